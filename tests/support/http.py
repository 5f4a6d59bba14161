"""A local HTTP server on 127.0.0.1 that answers with recorded responses (tests/recorded/).

Each request is matched to a Reply by a function of its path and query; a Reply that hangs
holds the connection open without answering, like a server that never answers. The server
records every request it got (path, query, headers, arrival time) and is always stopped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

RECORDED = Path(__file__).resolve().parents[1] / "recorded"


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/atom+xml; charset=utf-8"
    hang: bool = False

    @classmethod
    def recorded(cls, name: str, status: int = 200, content_type: str | None = None) -> Reply:
        """The recorded file tests/recorded/<name>, with a content type from its suffix."""
        kinds = {".xml": "application/atom+xml; charset=utf-8",
                 ".json": "application/json", ".html": "text/html; charset=utf-8",
                 ".txt": "text/plain"}
        path = RECORDED / name
        return cls(status, path.read_bytes(), content_type or kinds[path.suffix])


@dataclass(frozen=True)
class Request:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float  # time.monotonic() when it arrived


Route = Callable[[str, dict[str, str]], Reply]


@dataclass
class RecordedServer:
    """The running server: its base URL, and the requests it has seen."""

    url: str
    requests: list[Request] = field(default_factory=list)


@contextmanager
def recorded_server(route: Route) -> Iterator[RecordedServer]:
    """Serve `route` on 127.0.0.1 (a free port) for the `with` block, then stop."""
    release = threading.Event()
    seen: list[Request] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
            parts = urlsplit(self.path)
            query = {key: values[0] for key, values in parse_qs(parts.query).items()}
            seen.append(Request(parts.path, query, dict(self.headers.items()),
                                time.monotonic()))
            reply = route(parts.path, query)
            if reply.hang:
                release.wait(30)  # never answers while the test runs
                return
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield RecordedServer(f"http://127.0.0.1:{server.server_address[1]}", seen)
    finally:
        release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
