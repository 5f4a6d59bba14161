"""The archive: the sent issues, their web versions and the Atom feed, for the app and the
static site alike.

An issue is in the archive once it is sent: its issue file says `status: sent`, its
issue.json does, or the ledger has delivered it to someone. Its web version is the
outbox's issue.html, the email as the sample reader gets it ("Hi there,", the bare
unsubscribe address): no reader's name or link. Only the files of an archived issue are
ever served, so drafts in the outbox stay private.
"""

from __future__ import annotations

import datetime as dt
import json
import mimetypes
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from feedgen.feed import FeedGenerator  # type: ignore[import-untyped]
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from newsletter.config import Config
from newsletter.content.models import human_date
from newsletter.web.pages import render
from newsletter.web.security import ISSUE_CSP

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_SENT = re.compile(r"""^status:\s*["']?sent["']?\s*(#.*)?$""", re.M)
_BODY = re.compile(r"<body[^>]*>(.*)</body>", re.S | re.I)
FIGURE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                ".gif": "image/gif"}


@dataclass(frozen=True)
class ArchivedIssue:
    date: dt.date
    subject: str
    folder: Path  # outbox/<date>/
    figures: tuple[str, ...]

    @property
    def path(self) -> str:
        """Its address under the archive's root: issues/<date>/."""
        return f"issues/{self.date.isoformat()}/"

    @property
    def human_date(self) -> str:
        return human_date(self.date)

    def html(self) -> bytes:
        return (self.folder / "issue.html").read_bytes()

    def figure(self, name: str) -> tuple[bytes, str] | None:
        """A figure the issue shows, with its media type; None for any other name."""
        kind = FIGURE_TYPES.get(Path(name).suffix.lower())
        if name not in self.figures or kind is None:
            return None
        return (self.folder / name).read_bytes(), kind


def _marked_sent(config: Config, date: dt.date, summary: dict[str, object]) -> bool:
    if summary.get("status") == "sent":
        return True
    try:
        text = config.issue_path(date).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return False
    front = text.split("\n---", 1)[0] if text.startswith("---") else ""
    return _SENT.search(front) is not None


def _summary(folder: Path) -> dict[str, object] | None:
    try:
        summary = json.loads((folder / "issue.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(summary, dict) or not (folder / "issue.html").is_file():
        return None
    return summary


def sent_issues(config: Config, sent_any: Callable[[str], bool]) -> list[ArchivedIssue]:
    """The archived issues, newest first; `sent_any(date)` asks the ledger."""
    try:
        folders = [p for p in config.outbox_path.iterdir() if _DATE.fullmatch(p.name)]
    except OSError:
        return []
    issues = []
    for folder in folders:
        try:
            date = dt.date.fromisoformat(folder.name)
        except ValueError:
            continue
        summary = _summary(folder)
        if summary is None:
            continue
        if not (_marked_sent(config, date, summary) or sent_any(date.isoformat())):
            continue
        figures = summary.get("figures")
        issues.append(ArchivedIssue(
            date, str(summary.get("subject") or human_date(date)), folder,
            tuple(str(name) for name in figures) if isinstance(figures, list) else ()))
    return sorted(issues, key=lambda issue: issue.date, reverse=True)


def site_context(config: Config) -> dict[str, str]:
    return {"title": config.title, "tagline": config.tagline, "language": config.language}


def index_page(config: Config, issues: list[ArchivedIssue], *, subscribe: bool) -> str:
    """The archive's front page: every sent issue, newest first."""
    return render("index.html.j2", site=site_context(config), root="", title="Archive",
                  issues=issues, subscribe=subscribe)


def _midnight(date: dt.date) -> dt.datetime:
    return dt.datetime(date.year, date.month, date.day, tzinfo=dt.UTC)


def feed_xml(config: Config, issues: list[ArchivedIssue]) -> bytes:
    """The Atom feed: one entry per sent issue with its whole web version as content."""
    base = config.base_url
    feed = FeedGenerator()
    feed.id(f"{base}/")
    feed.title(config.title)
    feed.subtitle(config.tagline)
    feed.author({"name": config.from_name})
    feed.link(href=f"{base}/", rel="alternate")
    feed.link(href=f"{base}/feed.xml", rel="self")
    feed.language(config.language)
    # Same archive, same bytes: the feed's time is its newest issue's, not the clock's.
    feed.updated(_midnight(issues[0].date) if issues else _midnight(dt.date(2000, 1, 1)))
    for issue in reversed(issues):  # feedgen puts the last added first
        url = f"{base}/{issue.path}"
        entry = feed.add_entry()
        entry.id(url)
        entry.title(issue.subject)
        entry.link(href=url, rel="alternate")
        entry.published(_midnight(issue.date))
        entry.updated(_midnight(issue.date))
        html = issue.html().decode("utf-8", "replace")
        body = _BODY.search(html)
        entry.content(body[1] if body else html, type="html")
    data: bytes = feed.atom_str(pretty=True)
    return data


def media_type(name: str) -> str:
    return FIGURE_TYPES.get(Path(name).suffix.lower()) or mimetypes.guess_type(name)[0] \
        or "application/octet-stream"


# -- the routes ---------------------------------------------------------------------------


def _issue(request: Request) -> ArchivedIssue | None:
    date = request.path_params["date"]
    issues = request.app.state.web.issues()
    return next((issue for issue in issues if issue.date.isoformat() == date), None)


async def front_page(request: Request) -> Response:
    web = request.app.state.web
    return HTMLResponse(index_page(web.config, web.issues(), subscribe=True))


async def feed(request: Request) -> Response:
    web = request.app.state.web
    return Response(feed_xml(web.config, web.issues()), media_type="application/atom+xml")


async def issue_page(request: Request) -> Response:
    issue = _issue(request)
    if issue is None:
        return PlainTextResponse("Not Found", 404)
    return HTMLResponse(issue.html(), headers={"content-security-policy": ISSUE_CSP})


async def issue_folder(request: Request) -> Response:
    """/issues/D without its slash: the figures' relative addresses need it."""
    return RedirectResponse(f"{request.path_params['date']}/", 308)


async def figure(request: Request) -> Response:
    issue = _issue(request)
    found = issue.figure(request.path_params["name"]) if issue else None
    if found is None:
        return PlainTextResponse("Not Found", 404)
    data, kind = found
    return Response(data, media_type=kind)


def routes() -> list[Route]:
    date = "{date:str}"
    return [Route("/", front_page, methods=["GET"]),
            Route("/feed.xml", feed, methods=["GET"]),
            Route(f"/issues/{date}/", issue_page, methods=["GET"]),
            Route(f"/issues/{date}", issue_folder, methods=["GET"]),
            Route(f"/issues/{date}/{{name:str}}", figure, methods=["GET"])]
