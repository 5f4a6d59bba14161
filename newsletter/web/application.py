"""The web app: one-click unsubscribe, double opt-in, the archive and its feed.

`create_app(config)` builds it; `newsletter.web:app` is the same for any ASGI server,
from the newsletter.toml that $NEWSLETTER_CONFIG names or that is found from the current
folder. Handlers are async and use one store, opened at start-up, on the event loop's
thread: a one-click POST is one indexed read and one short write, cheaper than a hop to a
thread pool. Only mail goes out on a worker thread, after the response.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from newsletter.audience.tokens import (
    ConfirmSigner,
    ReaderTokens,
    Signer,
    load_secret,
)
from newsletter.config import Config
from newsletter.errors import NewsletterError
from newsletter.mail.headers import list_id
from newsletter.store import open_store
from newsletter.store.base import Store
from newsletter.web.archive import ArchivedIssue, sent_issues
from newsletter.web.archive import routes as archive_routes
from newsletter.web.pages import STATIC, message
from newsletter.web.security import ASGIApp, BodyLimit, Csrf, RateLimiter, SecurityHeaders
from newsletter.web.settings import WebSettings, web_settings
from newsletter.web.subscribe import routes as subscribe_routes
from newsletter.web.unsubscribe import routes as unsubscribe_routes
from newsletter.web.writer import Unsubscriber

ARCHIVE_SECONDS = 5.0  # the archive's list is read again at most this often


@dataclass
class WebState:
    """What the handlers share: settings, signers, the store, limits, the mailer."""

    config: Config
    settings: WebSettings
    tokens: ReaderTokens
    confirm: ConfirmSigner
    csrf: Csrf
    client_limits: RateLimiter
    address_limits: RateLimiter
    deliver: Callable[[str, bytes], None]
    open: Callable[[], Store]
    store_: Store | None = None
    unsubscriber: Unsubscriber | None = None
    _archive: tuple[float, list[ArchivedIssue]] = field(default=(0.0, []))

    @property
    def store(self) -> Store:
        if self.store_ is None:
            self.store_ = self.open()
        return self.store_

    async def leave(self, subscriber_id: int) -> None:
        """Unsubscribe one reader, committed (in a batch) before this returns."""
        if self.unsubscriber is None:
            self.unsubscriber = Unsubscriber(self.open)
        await self.unsubscriber.leave(subscriber_id)

    def close(self) -> None:
        if self.unsubscriber is not None:
            self.unsubscriber.close()
            self.unsubscriber = None
        if self.store_ is not None:
            self.store_.close()
            self.store_ = None

    def issues(self) -> list[ArchivedIssue]:
        """The sent issues, newest first, read again after ARCHIVE_SECONDS."""
        read_at, issues = self._archive
        if time.monotonic() - read_at > ARCHIVE_SECONDS:
            issues = sent_issues(self.config, self.store.sent_any)
            self._archive = (time.monotonic(), issues)
        return issues


def state_of(request: Request) -> WebState:
    web: WebState = request.app.state.web
    return web


def _new_state(config: Config, deliver: Callable[[str, bytes], None] | None,
               store: Callable[[], Store] | None) -> WebState:
    settings = web_settings(config)
    secret = load_secret(config.secret_path)
    opener = store or (lambda: open_store(config))
    if deliver is None:
        from newsletter.web.confirmations import Mailer

        deliver = Mailer(config).send
    web = WebState(config, settings, ReaderTokens(Signer(secret, list_id(config)), opener),
                   ConfirmSigner(secret, list_id(config)), Csrf(secret),
                   RateLimiter(settings.client_limit, settings.rate_window, settings.rate_keys),
                   RateLimiter(settings.address_limit, settings.rate_window, settings.rate_keys),
                   deliver, opener)
    return web


async def _unavailable(request: Request, exc: Exception) -> Response:
    logging.getLogger("newsletter.web").error("request failed: %s", exc)
    return message("Try again later", "The newsletter cannot answer right now.", 503)


def create_app(config: Config, *, deliver: Callable[[str, bytes], None] | None = None,
               store: Callable[[], Store] | None = None) -> ASGIApp:
    """The ASGI app of one list. `deliver(address, message)` sends a confirmation mail
    (default: the configured transport); `store()` opens the store (default: the config's)."""
    web = _new_state(config, deliver, store)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        web.store  # noqa: B018  (open it now: a database that is down shows at start-up)
        try:
            yield
        finally:
            web.close()

    routes = [*archive_routes(), *unsubscribe_routes(), *subscribe_routes(),
              Mount("/static", StaticFiles(directory=STATIC), name="static")]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={NewsletterError: _unavailable})
    app.state.web = web
    install_log_filter()
    return SecurityHeaders(BodyLimit(app, web.settings.max_body))


class DropQuery(logging.Filter):
    """Access-log lines without the query string: tokens never reach a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def install_log_filter() -> None:
    """On uvicorn's access log, once, whoever starts the server."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(existing, DropQuery) for existing in logger.filters):
        logger.addFilter(DropQuery())
