"""Writers of content files: papers and issues back into front matter + Markdown."""

from __future__ import annotations

from typing import Any

import yaml

from newsletter.content.models import Issue, Paper, Section


def _front_matter(data: dict[str, Any]) -> str:
    dumped = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    return f"---\n{dumped}---\n"


def _sections_markdown(sections: list[Section]) -> str:
    return "\n".join(f"## {s.title}\n\n{s.markdown}\n" if s.markdown else f"## {s.title}\n"
                     for s in sections)


def paper_to_markdown(paper: Paper) -> str:
    """The file form of a paper (what the importer and editors write)."""
    meta = paper.model_dump(mode="json", exclude={"slug", "sections"}, exclude_none=True,
                            exclude_defaults=True)
    meta["published"] = paper.published.iso()
    order = ["title", "headline", "authors", "affiliations", "venue", "presentation",
             "published", "track", "links", "takeaway", "tags", "imported_from"]
    meta = {key: meta[key] for key in order if key in meta}
    return f"{_front_matter(meta)}\n{_sections_markdown(paper.sections)}"


def issue_to_markdown(issue: Issue) -> str:
    """The file form of an issue."""
    meta = issue.model_dump(mode="json", exclude={"sections", "intro"}, exclude_none=True)
    order = ["date", "subject", "status", "papers_heading", "papers", "imported_from"]
    meta = {key: meta[key] for key in order if key in meta}
    body = (f"{issue.intro}\n\n" if issue.intro else "") + _sections_markdown(issue.sections)
    return f"{_front_matter(meta)}\n{body}"
