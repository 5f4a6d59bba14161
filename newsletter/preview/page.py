"""The preview page (page.html.j2 beside this file): frames, plaintext, headers, findings."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2

from newsletter.errors import display_path
from newsletter.preview.build import BuildError, PreviewBuild

PAGE = Path(__file__).with_name("page.html.j2")



@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    return jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
        PAGE.read_text(encoding="utf-8"))


def render_page(version: int, date: str, build: PreviewBuild | None, error: BuildError | None,
                scheme: str) -> str:
    """The whole preview page for the current state."""
    return _template().render(
        version=version, date=date, build=build, error=error, scheme=scheme,
        issue_file=display_path(build.issue_path) if build else "",
        text=build.files["issue.txt"].decode() if build else "")
