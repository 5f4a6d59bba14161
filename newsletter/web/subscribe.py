"""Subscribing with double opt-in: the form (and a snippet for other sites), the request
that mails a confirmation link, and the link's page whose button activates the subscriber.

Whatever the address, a valid request gets the same page, at once (the mail goes out after
the response), so nobody learns whether an address is on the list. Requests are limited
per client address and per email address; a hidden field catches form-filling bots; the
form carries a signed double-submit CSRF token. A request without it (the snippet, posted
from another site) changes nothing: it shows the form again, filled in, to press here.
"""

from __future__ import annotations

import time

from starlette.background import BackgroundTask
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from newsletter.audience import subscribers as audience
from newsletter.audience.addresses import address_or_problem, clean_name
from newsletter.audience.tokens import Confirmation
from newsletter.errors import DeliveryError
from newsletter.web.archive import site_context
from newsletter.web.confirmations import confirmation_link, confirmation_message
from newsletter.web.pages import message, page
from newsletter.web.security import CSRF_COOKIE, CSRF_FIELD

HONEYPOT = "website"
SNIPPET = """<form method="post" action="{base}/subscribe">
  <label for="nl-email">Email address</label>
  <input id="nl-email" type="email" name="email" required autocomplete="email">
  <button type="submit">Subscribe to {title}</button>
</form>"""


def _text(form: FormData, name: str, limit: int = 254) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def _form(request: Request, status: int = 200, *, email: str = "", name: str = "",
          problem: str = "") -> Response:
    """The form, with a CSRF cookie (a new one unless the browser has one)."""
    web = request.app.state.web
    cookie = request.cookies.get(CSRF_COOKIE) or ""
    fresh = not cookie or len(cookie) > 64
    if fresh:
        cookie = web.csrf.new_cookie()
    snippet = SNIPPET.format(base=web.config.base_url, title=web.config.title)
    response = page("subscribe.html.j2", status, site=site_context(web.config), root="",
                    email=email, name=name, problem=problem, csrf_field=CSRF_FIELD,
                    csrf=web.csrf.field(cookie), snippet=snippet)
    if fresh:
        response.set_cookie(CSRF_COOKIE, cookie, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/")
    return response


async def subscribe_form(request: Request) -> Response:
    """GET /subscribe: the form and the snippet."""
    return _form(request)


def _limited(request: Request) -> Response:
    return message("Too many requests", "Please wait a while before asking again.", 429,
                   site=site_context(request.app.state.web.config))


def _sent(request: Request, task: BackgroundTask | None = None) -> Response:
    response = message("Check your inbox", "If the address can get our mail, a link to "
                       "confirm is on its way. Nothing is sent until you confirm.",
                       site=site_context(request.app.state.web.config))
    response.background = task
    return response


def request_confirmation(request: Request, email: str, name: str) -> Response:
    """Mail a confirmation link to `email` (within its limit) unless it is already active."""
    web = request.app.state.web
    if not web.address_limits.allow(email):
        return _limited(request)
    state = web.store.subscription_state(email)
    if state is not None and state[1] == "active":
        return _sent(request)
    link, expires = confirmation_link(web.config, web.confirm, email, name, state,
                                      web.settings.confirm_days)
    data = confirmation_message(web.config, email, link, expires)
    return _sent(request, BackgroundTask(web.deliver, email, data))


async def subscribe(request: Request) -> Response:
    """POST /subscribe: validate, limit, and mail a confirmation link."""
    web = request.app.state.web
    form = await request.form()
    if _text(form, HONEYPOT):
        return _sent(request)  # a bot: it is told what a person would be told
    email, name = _text(form, "email"), _text(form, "name", 200)
    field = form.get(CSRF_FIELD)
    if not web.csrf.valid(request.cookies.get(CSRF_COOKIE),
                          field if isinstance(field, str) else None):
        return _form(request, email=email, name=name,
                     problem="Press Subscribe to send the confirmation link.")
    client = request.client.host if request.client else "-"
    if not web.client_limits.allow(client):
        return _limited(request)
    try:
        email = address_or_problem(email)
        name = clean_name(name)
    except ValueError as exc:
        return _form(request, 400, email=email, name=name, problem=f"{exc}.")
    return request_confirmation(request, email, name)


def _opened(request: Request) -> Confirmation | Response:
    web = request.app.state.web
    site = site_context(web.config)
    try:
        return web.confirm.open(request.query_params.get("token", ""), time.time())
    except DeliveryError as exc:
        if exc.code == "expired":
            return message("This link has expired", "Confirmation links work for "
                           f"{web.settings.confirm_days:g} days. Subscribe again to get a "
                           "new one.", 400, site=site)
        return message("This link does not work", "The confirmation link is incomplete or "
                       "was changed. Copy the whole link from the mail.", 400, site=site)


async def confirm_page(request: Request) -> Response:
    """GET /confirm: the Confirm button (a prefetch changes nothing)."""
    opened = _opened(request)
    if isinstance(opened, Response):
        return opened
    web = request.app.state.web
    return page("confirm.html.j2", private=True, site=site_context(web.config), root="",
                email=opened.email, token=request.query_params["token"])


async def confirm(request: Request) -> Response:
    """POST /confirm: activate the subscriber, once."""
    opened = _opened(request)
    if isinstance(opened, Response):
        return opened
    web = request.app.state.web
    site = site_context(web.config)
    outcome = audience.confirm(web.store, opened)
    if outcome == "stale":
        return message("This link was already used", "The address changed since this link "
                       "was sent. Subscribe again to get a new one.", 400, site=site)
    return message("You are subscribed", f"{opened.email} gets the next issue of "
                   f"{web.config.title}.", site=site)


def routes() -> list[Route]:
    return [Route("/subscribe", subscribe_form, methods=["GET"]),
            Route("/subscribe", subscribe, methods=["POST"]),
            Route("/confirm", confirm_page, methods=["GET"]),
            Route("/confirm", confirm, methods=["POST"])]
