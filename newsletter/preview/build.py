"""What the preview shows: one build of the issue (or why it failed), and the colour scheme."""

from __future__ import annotations

import datetime as dt
import re
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from newsletter.diagnostics import Diagnostic
from newsletter.errors import NewsletterError

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
            return cls(Diagnostic.from_error(exc, type(exc).__name__))
        text = "".join(traceback.format_exception(exc))
        return cls(Diagnostic("error", None, None, f"{type(exc).__name__}: {exc}",
                              "this is a bug in newsletter; please report it", "bug"), text)


def force_scheme(html: str, scheme: str) -> str:
    """The email as a client in `scheme` ('light' or 'dark') would style it."""
    html = _SCHEME_FEATURE.sub(
        lambda m: _ALWAYS if m[1].lower() == scheme else _NEVER, html)
    return _SCHEME_META.sub(rf"\g<1>{scheme}\g<2>", html)
