"""The preview's builder: what `compose` would write for a date, rendered in memory."""

from __future__ import annotations

import datetime as dt
import re
import traceback
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path

from ..compose import draft_for_date
from ..config import load_config
from ..content import load_content
from ..diagnostics import Diagnostic
from ..errors import NewsletterError
from ..publish import build_issue

# A dark/light switch must work whatever the viewer's own OS setting is, so the preview
# answers the email's colour-scheme media features itself: true for the chosen scheme,
# false for the other. Only the served copy changes; /issue.html stays byte-exact.
_SCHEME_FEATURE = re.compile(r"\(\s*prefers-color-scheme\s*:\s*(dark|light)\s*\)", re.I)
_SCHEME_META = re.compile(r'(<meta\s+name="(?:supported-)?color-schemes?"\s+content=")[^"]*(")',
                          re.I)
_ALWAYS, _NEVER = "(min-width: 0px)", "(min-width: 1000000px)"


@dataclass(frozen=True)
class PreviewBuild:
    """One rendering of the issue: the outbox files and what the page shows about them."""

    date: dt.date
    issue_path: Path
    drafted: bool  # no issue file yet: this is the draft compose would write
    files: dict[str, bytes]  # issue.html, issue.txt, issue.eml, issue.json, as compose writes
    subject: str
    titles: list[str]
    headers: list[tuple[str, str]]
    parts: list[str]
    findings: list[Diagnostic] = field(default_factory=list)


@dataclass(frozen=True)
class BuildError:
    """Why the last build failed: a user mistake (file:line) or a bug (traceback)."""

    diagnostic: Diagnostic
    traceback: str = ""

    @classmethod
    def from_exception(cls, exc: BaseException) -> BuildError:
        if isinstance(exc, NewsletterError):
            return cls(Diagnostic("error", exc.path, exc.line, exc.detail, exc.hint or "",
                                  type(exc).__name__))
        text = "".join(traceback.format_exception(exc))
        return cls(Diagnostic("error", None, None, f"{type(exc).__name__}: {exc}",
                              "this is a bug in newsletter; please report it", "bug"), text)


def force_scheme(html: str, scheme: str) -> str:
    """The email as a client in `scheme` ('light' or 'dark') would style it."""
    html = _SCHEME_FEATURE.sub(
        lambda m: _ALWAYS if m[1].lower() == scheme else _NEVER, html)
    return _SCHEME_META.sub(rf"\g<1>{scheme}\g<2>", html)


def _headers(eml: bytes) -> tuple[list[tuple[str, str]], list[str]]:
    message = message_from_bytes(eml, policy=policy.default)
    headers = [(name, str(value)) for name, value in message.items()]
    parts = [f"{part.get_content_type()}; charset={part.get_content_charset()}; "
             f"{part.get('Content-Transfer-Encoding', '7bit')}; "
             f"{len(part.get_payload(decode=True) or b''):,} B"
             for part in message.walk() if not part.is_multipart()]
    return headers, parts


def build_preview(config_path: Path | None, date: dt.date, *, with_check: bool = True,
                  now: dt.datetime | None = None) -> PreviewBuild:
    """Render the issue for `date` as `compose` would, without writing anything.

    Config and content are read afresh on every call: the preview calls this on each change.
    Raises NewsletterError (with file and line) for mistakes in config, content or templates.
    """
    now = now or dt.datetime.now(dt.UTC)
    config = load_config(config_path)
    content = load_content(config.resolve(config.content_dir))
    issue = content.issues.get(date)
    drafted = issue is None
    if issue is None:
        issue, _ = draft_for_date(content.papers, content.issues, date, config)
    built = build_issue(issue, content, config, now)
    headers, parts = _headers(built.files["issue.eml"])
    findings = []
    if with_check:
        from ..check import run_check

        findings = run_check(config, date, now=now).findings
    return PreviewBuild(date, content.issue_paths.get(date, config.issues_dir /
                                                      f"{date.isoformat()}.md"),
                        drafted, built.files, built.rendered.subject,
                        [paper.title for paper in built.papers], headers, parts, findings)
