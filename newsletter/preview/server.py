"""The preview server: HTTP on 127.0.0.1, a file watcher, and a builder called on change.

Shaped like MkDocs' `serve`: a `builder` callback renders, a watcher thread calls it when a
paper, issue, template or config file changes, and pages long-poll for the new version.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from newsletter.errors import NewsletterError
from newsletter.preview.build import BuildError, PreviewBuild, force_scheme
from newsletter.preview.page import render_page

HOST = "127.0.0.1"
POLL_SECONDS = 20.0  # a long poll answers at the latest after this long
RAW_TYPES = {"issue.html": "text/html; charset=utf-8", "issue.txt": "text/plain; charset=utf-8",
             "issue.eml": "text/plain; charset=utf-8", "issue.json": "application/json"}


class PreviewState:
    """The last good build, the current error, and a version that changes on every build."""

    def __init__(self, builder: Callable[[], PreviewBuild], date: str,
                 on_build: Callable[[PreviewState, float], None] | None = None) -> None:
        self.builder = builder
        self.date = date
        self.on_build = on_build
        self.version = 0
        self.build: PreviewBuild | None = None
        self.error: BuildError | None = None
        self.closed = False
        self._changed = threading.Condition()

    def rebuild(self) -> None:
        """Call the builder; a failure is kept for the page and the server keeps running."""
        started = time.monotonic()
        build, error = None, None
        try:
            build = self.builder()
        except Exception as exc:  # a NewsletterError names file:line; a bug shows its traceback
            error = BuildError.from_exception(exc)
        with self._changed:
            self.build = build or self.build
            self.error = error
            self.version += 1
            self._changed.notify_all()
        if self.on_build:
            self.on_build(self, time.monotonic() - started)

    def snapshot(self) -> tuple[int, PreviewBuild | None, BuildError | None]:
        """(version, last good build, current error), consistent with each other."""
        with self._changed:
            return self.version, self.build, self.error

    def wait_for_change(self, since: int, timeout: float) -> int:
        with self._changed:
            self._changed.wait_for(lambda: self.version != since or self.closed, timeout)
            return self.version

    def close(self) -> None:
        """Answer every waiting long poll now, so handler threads end."""
        with self._changed:
            self.closed = True
            self._changed.notify_all()


class Handler(BaseHTTPRequestHandler):
    server: PreviewHTTPServer

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: one line per request would drown the rebuild messages."""

    def do_GET(self) -> None:
        state = self.server.state
        version, build, error = state.snapshot()
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        scheme = "dark" if query.get("scheme") == ["dark"] else "light"
        host = self.headers.get("Host", "").rsplit(":", 1)[0]
        if host not in ("127.0.0.1", "localhost"):  # refuse DNS-rebinding pages
            self._send(HTTPStatus.FORBIDDEN, b"preview answers on 127.0.0.1 only", "text/plain")
        elif url.path == "/":
            page = render_page(version, state.date, build, error, scheme)
            self._send(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8")
        elif url.path == "/livereload":
            self._long_poll((query.get("since") or ["0"])[0] or "0")
        elif url.path == "/email.html" or url.path[1:] in RAW_TYPES:
            self._file(build, url.path[1:], scheme)
        else:
            self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain")

    def _long_poll(self, since: str) -> None:
        """Answers when the version differs from `since` (or after POLL_SECONDS)."""
        if not (since.isascii() and since.isdigit() and len(since) <= 18):
            self._send(HTTPStatus.BAD_REQUEST, b"since must be a version number", "text/plain")
            return
        version = self.server.state.wait_for_change(int(since), POLL_SECONDS)
        self._send(HTTPStatus.OK, f'{{"version": {version}}}'.encode(), "application/json")

    def _file(self, build: PreviewBuild | None, name: str, scheme: str) -> None:
        """The email as framed (in the chosen colour scheme), or an outbox file byte for byte."""
        if build is None:
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, b"the issue does not build yet",
                       "text/plain")
        elif name == "email.html":
            html = build.files["issue.html"].decode()
            self._send(HTTPStatus.OK, force_scheme(html, scheme).encode(),
                       "text/html; charset=utf-8")
        else:
            self._send(HTTPStatus.OK, build.files[name], RAW_TYPES[name])

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Security-Policy", "frame-ancestors 'self'")
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the page reloaded or closed while we answered


class PreviewHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, state: PreviewState) -> None:
        self.state = state
        try:
            super().__init__((HOST, port), Handler)
        except OSError as exc:
            raise NewsletterError(f"cannot listen on {HOST}:{port}: {exc.strerror}",
                                  hint="pick another --port, or 0 for any free one") from exc


class Watcher:
    """Calls `on_change` after files under `paths()` change; `paths` is asked again after
    each change, since an edited newsletter.toml can move the content or template folder."""

    def __init__(self, paths: Callable[[], list[Path]], on_change: Callable[[], None]) -> None:
        self.paths = paths
        self.on_change = on_change
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="preview-watch", daemon=True)

    def _run(self) -> None:
        import watchfiles

        polling = None
        while not self.stop.is_set():
            paths = [p for p in self.paths() if p.exists()]
            if not paths:
                self.stop.wait(1.0)
                continue
            try:
                # A short debounce: editors save in a burst of events, and 2 s is the budget.
                for _changes in watchfiles.watch(*paths, stop_event=self.stop, debounce=150,
                                                 step=50, rust_timeout=1000,
                                                 raise_interrupt=False, force_polling=polling):
                    self.on_change()
                    if [p for p in self.paths() if p.exists()] != paths:
                        break
            except OSError:  # e.g. the system's inotify watch limit: polling still works
                if polling:
                    raise
                polling = True

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


class PreviewServer:
    """Server, watcher and state together; a context manager that cleans up after itself."""

    def __init__(self, builder: Callable[[], PreviewBuild], date: str,
                 watch: Callable[[], list[Path]], port: int = 8025,
                 on_build: Callable[[PreviewState, float], None] | None = None) -> None:
        self.state = PreviewState(builder, date, on_build)
        self.http = PreviewHTTPServer(port, self.state)  # first: a taken port fails fast
        self.state.rebuild()
        self.watcher = Watcher(watch, self.state.rebuild)
        self._serving = threading.Thread(target=self.http.serve_forever, name="preview-http",
                                         kwargs={"poll_interval": 0.2}, daemon=True)

    @property
    def url(self) -> str:
        port = self.http.server_address[1]
        return f"http://{HOST}:{port}/"

    def __enter__(self) -> PreviewServer:
        self._serving.start()
        self.watcher.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Stop watching, answer pending long polls, stop serving, close the socket."""
        self.watcher.close()
        self.state.close()
        if self._serving.is_alive():
            self.http.shutdown()
            self._serving.join(timeout=5)
        self.http.server_close()


def log_build(echo: Callable[..., None]) -> Callable[[PreviewState, float], None]:
    """One line per build on stderr: how long it took, or the error with file:line."""

    def report(state: PreviewState, seconds: float) -> None:
        if state.error:
            echo(f"error: {state.error.diagnostic.one_line().removeprefix('error: ')}", err=True)
            if state.error.traceback:
                print(state.error.traceback, file=sys.stderr)
        else:
            echo(f"built {state.date} in {seconds * 1000:.0f} ms (version {state.version})",
                 err=True)

    return report
