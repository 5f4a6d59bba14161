"""What every response and request goes through: security headers, a cap on request bodies,
the CSRF check of forms without a token, and rate limits kept in memory.

The middleware is plain ASGI (no Starlette request objects), so it costs little on the
one-click path and works under any ASGI server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Our own pages: no script at all, styles and images from here only.
PAGE_CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'")
# An issue's web version is the email's HTML: its CSS is inlined (style attributes), so
# inline styles are allowed there, and nothing else that could run.
ISSUE_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; "
             "form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),  # tokens in page URLs never leave in a Referer
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"interest-cohort=()"),
]
CSRF_COOKIE = "nl_csrf"
CSRF_FIELD = "csrf"


class SecurityHeaders:
    """Adds the security headers to every response; a page may set its own CSP first."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [pair for pair in _HEADERS if pair[0] not in names]
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", PAGE_CSP.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


class BodyLimit:
    """Refuses a request body over `limit` bytes with 413, before the app reads any of it.

    A declared Content-Length over the limit is refused at once; a chunked body is read up
    to the limit (bodies here are small forms) and handed on whole.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and (not value.isdigit() or int(value) > self.limit):
                await _too_large(send)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await _too_large(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)


async def _too_large(send: Send) -> None:
    body = b"Request body too large.\n"
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class Csrf:
    """Signed double-submit tokens for forms that change state without a token of their own.

    The browser holds a random cookie (SameSite=Strict, HttpOnly); the form carries its
    HMAC. A page elsewhere can neither read the cookie nor compute the HMAC, and a cookie set
    by a neighbouring subdomain fails the HMAC.
    """

    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, b"csrf\x00", hashlib.sha256).digest()

    @staticmethod
    def new_cookie() -> str:
        return secrets.token_urlsafe(16)

    def field(self, cookie: str) -> str:
        mac = hmac.new(self._key, cookie.encode(), hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def valid(self, cookie: str | None, field: str | None) -> bool:
        if not cookie or not field or len(cookie) > 64:
            return False
        return hmac.compare_digest(self.field(cookie), field)


class RateLimiter:
    """At most `limit` events per key in `window` seconds, for at most `max_keys` keys.

    Fixed windows in an ordered dict: expired keys are dropped as new ones come, and when
    the dict is full the least recently seen key goes, so memory stays bounded whatever a
    client sends.
    """

    def __init__(self, limit: int, window: float, max_keys: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._clock = clock
        self._seen: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def allow(self, key: str) -> bool:
        """Count one event for `key`; False once it is over its limit in this window."""
        now = self._clock()
        start, count = self._seen.pop(key, (now, 0))
        if now - start >= self.window:
            start, count = now, 0
        self._seen[key] = (start, count + 1)
        self._trim(now)
        return count < self.limit

    def _trim(self, now: float) -> None:
        while len(self._seen) > self.max_keys:
            self._seen.popitem(last=False)
        oldest = next(iter(self._seen.items()), None)
        # Keys are in the order last seen: drop a few expired ones from the front each time.
        for _ in range(4):
            if oldest is None or now - oldest[1][0] < self.window:
                break
            self._seen.popitem(last=False)
            oldest = next(iter(self._seen.items()), None)

    def __len__(self) -> int:
        return len(self._seen)
