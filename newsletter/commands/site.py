"""`newsletter site build OUT/`: the archive and feed as static files."""

from __future__ import annotations

from pathlib import Path

from newsletter.config import Config


def build(config: Config, out: Path) -> str:
    """Write the static site; one line saying what was written."""
    from newsletter.web.site import build_site

    issues = build_site(config, out)
    return f"wrote {out}: {len(issues)} issue(s), index.html and feed.xml"
