"""HTTP GET for the paper sources: a timeout, a descriptive User-Agent, one-line errors, and
the pacing arXiv's terms of use ask for.

Every failure (no network, a refused connection, a timeout, an error page) is a SourceError:
one line, exit code 2. A 404 is an answer, not a failure: the caller says what was not found.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from newsletter import __version__
from newsletter.errors import NewsletterError

MAX_BODY = 8_000_000  # bytes; a larger answer is not metadata


class SourceError(NewsletterError):
    """A paper source cannot be reached or gives no usable answer."""


@dataclass(frozen=True)
class Answer:
    """A source's answer: its status (200, or 404 for 'not found'), body and media type."""

    status: int
    body: bytes
    content_type: str


def user_agent(contact: str | None = None) -> str:
    """'newsletter/0.4 (research digest publisher; mailto:editor@example.org)'."""
    who = f"; mailto:{contact}" if contact else ""
    return f"newsletter/{__version__} (research digest publisher{who})"


def _stamp_file() -> Path:
    folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "newsletter"
    return folder / "arxiv-last-request"


@dataclass
class Pacer:
    """At most one request at a time, each starting `interval` seconds after the last ended.

    Shared by every process of this user through a locked time stamp file (the terms count
    all of a user's requests), and within a process by a lock. Without a usable stamp file
    the pacing holds within this process only.
    """

    interval: float
    stamp: Path | None = field(default_factory=_stamp_file)
    sleep: Callable[[float], None] = time.sleep
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _last: float = field(default=0.0, init=False)  # when this process's last request ended

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """Wait for this request's turn, hold it while the request runs."""
        with self._lock, self._shared() as handle:
            last = max(self._last, _read_stamp(handle))
            wait = last + self.interval - time.time()
            if wait > 0:
                self.sleep(min(wait, self.interval))  # a clock set back never waits longer
            try:
                yield
            finally:
                self._last = time.time()
                _write_stamp(handle, self._last)

    @contextlib.contextmanager
    def _shared(self) -> Iterator[int | None]:
        handle = None
        if self.stamp is not None:
            try:
                self.stamp.parent.mkdir(parents=True, exist_ok=True)
                handle = os.open(self.stamp, os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(handle, fcntl.LOCK_EX)
            except OSError:
                if handle is not None:
                    os.close(handle)
                handle = None
        try:
            yield handle
        finally:
            if handle is not None:
                os.close(handle)  # releases the lock


def _read_stamp(handle: int | None) -> float:
    if handle is None:
        return 0.0
    try:
        os.lseek(handle, 0, os.SEEK_SET)
        return float(os.read(handle, 64).decode("ascii").strip() or 0)
    except (OSError, ValueError):
        return 0.0


def _write_stamp(handle: int | None, when: float) -> None:
    if handle is None:
        return
    with contextlib.suppress(OSError):
        os.ftruncate(handle, 0)
        os.pwrite(handle, f"{when:.3f}\n".encode("ascii"), 0)


def get(url: str, *, source: str, params: dict[str, str] | None = None, accept: str,
        agent: str, timeout: float, pacer: Pacer | None = None) -> Answer:
    """GET `url` (with `params`); `source` names the service in errors ('arXiv')."""
    full = f"{url}?{urlencode(params)}" if params else url
    request = urllib.request.Request(full, headers={"User-Agent": agent, "Accept": accept})
    with pacer.turn() if pacer else contextlib.nullcontext():
        return _fetch(request, source, timeout)


def _fetch(request: urllib.request.Request, source: str, timeout: float) -> Answer:
    host = urlsplit(request.full_url).netloc
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            body = reply.read(MAX_BODY + 1)
            status, kind = reply.status, reply.headers.get_content_type()
    except urllib.error.HTTPError as exc:
        with exc:  # the error is the open response: closed here, not when collected
            if exc.code == 404:
                return Answer(404, _error_body(exc), exc.headers.get_content_type())
        raise SourceError(f"{source} ({host}) answered HTTP {exc.code} {exc.reason}",
                          hint="try again later") from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError | socket.timeout):
            raise _timeout(source, host, timeout) from exc
        raise SourceError(f"cannot reach {source} ({host}): {_reason(exc.reason)}",
                          hint="check the network connection, or try again later") from exc
    except TimeoutError as exc:
        raise _timeout(source, host, timeout) from exc
    except (OSError, ValueError) as exc:  # a connection reset mid-answer, a bad status line
        raise SourceError(f"{source} ({host}) broke off its answer: {_reason(exc)}",
                          hint="try again later") from exc
    if len(body) > MAX_BODY:
        raise SourceError(f"{source} ({host}) sent more than {MAX_BODY:,} bytes",
                          hint="check the source's URL in [sources] of newsletter.toml")
    return Answer(status, body, kind)


def _error_body(exc: urllib.error.HTTPError) -> bytes:
    try:
        return exc.read(64_000)
    except (OSError, ValueError):
        return b""


def _timeout(source: str, host: str, timeout: float) -> SourceError:
    return SourceError(f"{source} ({host}) did not answer within {timeout:g} s",
                       hint="try again later, or raise sources.timeout in newsletter.toml")


def _reason(reason: object) -> str:
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__
