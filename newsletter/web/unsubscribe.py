"""One-click unsubscribe (RFC 8058) at the address in List-Unsubscribe, and resubscribing.

`POST /unsubscribe?token=T` with ``List-Unsubscribe=One-Click`` (form-encoded, no cookie, no
login, as Gmail sends it) unsubscribes at once and answers 200, however often it comes.
`GET` never changes anything: link scanners prefetch it, so it shows one button that makes
the same POST. A forged, altered or truncated token is 400 and a plain page. Every page
here carries the token in its address: never cached (Referrer-Policy is on every page).
"""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from newsletter.errors import DeliveryError
from newsletter.store.base import Subscriber
from newsletter.web.archive import site_context
from newsletter.web.pages import fast_page, message, page
from newsletter.web.subscribe import request_confirmation

_ONE_CLICK = "One-Click"


def _bad_link(request: Request) -> Response:
    return message("This link does not work",
                   "The unsubscribe link is incomplete or was changed. Copy the whole link "
                   "from the bottom of an issue, or reply to any issue to be taken off the "
                   "list.", 400, site=site_context(request.app.state.web.config))


def _reader(request: Request) -> tuple[Subscriber | None, str] | Response:
    """(the reader, the token) of the request's token; a page if the token is bad."""
    web = request.app.state.web
    token = request.query_params.get("token", "")
    try:
        reference = web.tokens.signer.reference(token)
    except DeliveryError:
        return _bad_link(request)
    return web.tokens.named(reference, web.store), token


def _gone(request: Request) -> Response:
    return message("Not on the list", "This address is no longer on the list: it gets no "
                   "issues.", site=site_context(request.app.state.web.config))


def _done(request: Request, reader: Subscriber, token: str) -> Response:
    # A checked token is URL-safe ([A-Za-z0-9._-]): it goes into the form's action as it is.
    return fast_page("unsubscribed.html.j2", site_context(request.app.state.web.config),
                     email=reader.email, token=token)


async def unsubscribe_page(request: Request) -> Response:
    """GET: the button, or that the reader has already left. Changes nothing."""
    found = _reader(request)
    if isinstance(found, Response):
        return found
    reader, token = found
    if reader is None:
        return _gone(request)
    if reader.status != "active":
        return _done(request, reader, token)
    return page("unsubscribe.html.j2", private=True, email=reader.email, token=token,
                root="", site=site_context(request.app.state.web.config))


async def _one_click_field(request: Request) -> str | None:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        fields = parse_qs((await request.body()).decode("latin-1"))
        values = fields.get("List-Unsubscribe")
        return values[0] if values else None
    if kind == "multipart/form-data":
        value = (await request.form()).get("List-Unsubscribe")
        return value if isinstance(value, str) else None
    return None


async def one_click(request: Request) -> Response:
    """POST: unsubscribe at once; 200 again for a reader who has already left."""
    found = _reader(request)
    if isinstance(found, Response):
        return found
    if await _one_click_field(request) != _ONE_CLICK:
        return message("Not unsubscribed", "The request did not say List-Unsubscribe="
                       "One-Click; nothing was changed.", 400,
                       site=site_context(request.app.state.web.config))
    reader, token = found
    if reader is None:
        return _gone(request)
    if reader.status == "active":
        await request.app.state.web.leave(reader.id)
    return _done(request, reader, token)


async def resubscribe(request: Request) -> Response:
    """POST from the confirmation page: a reader who left gets a link to confirm by mail
    (coming back is always double opt-in)."""
    found = _reader(request)
    if isinstance(found, Response):
        return found
    reader, _ = found
    if reader is None:
        return _gone(request)
    site = site_context(request.app.state.web.config)
    if reader.status == "active":
        return message("You are subscribed", f"{reader.email} gets every issue.", site=site)
    return request_confirmation(request, reader.email, reader.name)


def routes() -> list[Route]:
    return [Route("/unsubscribe", unsubscribe_page, methods=["GET"]),
            Route("/unsubscribe", one_click, methods=["POST"]),
            Route("/resubscribe", resubscribe, methods=["POST"])]
