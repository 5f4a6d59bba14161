"""The web app's pages: Jinja2 templates in newsletter/web/templates/, rendered to responses.

Every link and form action on a page is relative (`unsubscribe?token=...`, `static/site.css`),
so the app works the same at a domain's root and under a path behind a reverse proxy.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import escape
from starlette.responses import HTMLResponse

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
# Pages that carry a token in their URL are never stored by a browser or a proxy.
NO_STORE = {"cache-control": "no-store"}


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True,
                              lstrip_blocks=True)


def render(template: str, **context: Any) -> str:
    """One page as text (the static site writes the same pages the app serves)."""
    return environment().get_template(template).render(**context)


def page(template: str, status: int = 200, *, private: bool = False,
         headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    """A page as a response; `private` for one that carries a token (never cached)."""
    all_headers = {**(NO_STORE if private else {}), **(headers or {})}
    return HTMLResponse(render(template, **context), status_code=status, headers=all_headers)


def message(title: str, text: str, status: int = 200, *, root: str = "",
            private: bool = True, site: Any = None) -> HTMLResponse:
    """A page with a heading and one paragraph (errors, outcomes)."""
    return page("message.html.j2", status, private=private, title=title, text=text,
                root=root, site=site)


_SLOT = "NLSLOT{}X"  # letters and digits only: HTML escaping and URL quoting leave it as it is


@cache
def _cut(template: str, names: tuple[str, ...], site: tuple[tuple[str, str], ...],
         ) -> tuple[list[str], list[int]]:
    """A page rendered once with a marker for each of `names`: (static pieces, slots)."""
    text = render(template, site=dict(site), root="",
                  **{name: _SLOT.format(index) for index, name in enumerate(names)})
    pieces = re.split(r"NLSLOT(\d+)X", text)
    return pieces[0::2], [int(index) for index in pieces[1::2]]


def fast_page(template: str, site: dict[str, str], **values: str) -> HTMLResponse:
    """A page whose only varying parts are `values`, each HTML-escaped, put into a copy
    rendered once: the one-click answer, on the hot path of a burst, costs no template run.
    Only for values that need no other filter than escaping (or that are URL-safe)."""
    names = tuple(values)
    pieces, slots = _cut(template, names, tuple(sorted(site.items())))
    filled = [str(escape(values[names[slot]])) for slot in slots]
    out = [pieces[0]]
    for value, piece in zip(filled, pieces[1:], strict=True):
        out += [value, piece]
    return HTMLResponse("".join(out), headers=NO_STORE)
