"""Serving the app with uvicorn: `newsletter serve`, and a server in a thread for tests and
the benchmark.

uvicorn applies the forwarded headers (X-Forwarded-For, -Proto) only from the addresses in
`web.trusted_proxies`, so behind nginx or Caddy the client address (the rate limits) and
the scheme (the cookie's Secure flag) are right, and nobody else can claim them.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType

import uvicorn

from newsletter.errors import UsageError
from newsletter.web.security import ASGIApp
from newsletter.web.settings import WebSettings


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port (0: a free port); a one-line error if it cannot be."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets that name it, and
    # without it every keep-alive answer waits 40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}",
                         hint="pick another --port, or stop what is using it") from None
    sock.listen(2048)  # connections wait in the backlog until uvicorn takes them
    sock.set_inheritable(True)
    return sock


def server_for(app: ASGIApp, settings: WebSettings, *, access_log: bool = True,
               log_level: str = "info", sock: socket.socket | None = None) -> uvicorn.Server:
    host, port = sock.getsockname()[:2] if sock else ("127.0.0.1", 0)
    config = uvicorn.Config(app, host=host, port=port, proxy_headers=True,
                            forwarded_allow_ips=settings.trusted_proxies,
                            server_header=False, access_log=access_log, log_level=log_level,
                            lifespan="on", timeout_graceful_shutdown=5)
    return uvicorn.Server(config)


def address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def run(app: ASGIApp, settings: WebSettings, host: str, port: int,
        echo: Callable[[str], None] | None = None) -> None:
    """Serve until Ctrl-C or SIGTERM (uvicorn stops gracefully on either)."""
    sock = listening_socket(host, port)
    try:
        if echo:
            echo(f"Serving on {address(sock)}/ (Ctrl-C stops)")
        server_for(app, settings, sock=sock).run(sockets=[sock])
    finally:
        sock.close()


class BackgroundServer:
    """The app on 127.0.0.1 (a free port) in a thread, for tests and the benchmark."""

    def __init__(self, app: ASGIApp, settings: WebSettings | None = None, *,
                 access_log: bool = False, sock: socket.socket | None = None) -> None:
        """`sock`: a socket bound beforehand (to know the address before making the app)."""
        self.sock = sock or listening_socket("127.0.0.1", 0)
        self.url = address(self.sock)
        self.server = server_for(app, settings or WebSettings(), access_log=access_log,
                                 log_level="info" if access_log else "warning", sock=self.sock)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)

    def __enter__(self) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the web app did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()
