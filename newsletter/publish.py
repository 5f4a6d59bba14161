"""The `compose` job: content + date -> selection -> rendering -> outbox/<date>/."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from .compose import SelectionResult, draft_for_date, featured_before
from .config import Config
from .content import Content, issue_to_markdown, load_content, write_text_atomic
from .diagnostics import Diagnostic
from .errors import ContentError
from .message import build_issue_message
from .models import Issue, Paper
from .render import Rendered, render_issue
from .writer import json_bytes, write_issue_folder


@dataclass
class BuiltIssue:
    """An issue rendered in memory, before anything is written."""

    issue: Issue
    papers: list[Paper]
    rendered: Rendered
    files: dict[str, bytes]


@dataclass
class ComposeResult:
    date: dt.date
    issue_path: Path
    drafted: bool
    selection: SelectionResult | None
    folder: Path | None
    built: BuiltIssue | None
    warnings: list[Diagnostic] = field(default_factory=list)


def render_with_papers(issue: Issue, content: Content,
                       config: Config) -> tuple[list[Paper], Rendered]:
    """The issue's papers from the pool, and the issue rendered (both parts, with markers)."""
    missing = [slug for slug in issue.papers if slug not in content.papers]
    if missing:
        raise ContentError(f"issue names an unknown paper '{missing[0]}'",
                           path=content.issue_paths.get(issue.date),
                           hint=f"add {config.papers_dir / missing[0]}.md or fix the slug")
    papers = [content.papers[slug] for slug in issue.papers]
    return papers, render_issue(issue, papers, config)


def build_issue(issue: Issue, content: Content, config: Config, now: dt.datetime) -> BuiltIssue:
    """Render one issue and its four outbox files, in memory."""
    papers, rendered = render_with_papers(issue, content, config)
    html, text = rendered.personalize(unsubscribe_url=f"{config.base_url}/unsubscribe")
    html_bytes, text_bytes = html.encode(), text.encode()
    eml = build_issue_message(rendered, html, text, config, now)
    summary = {
        "date": issue.date.isoformat(),
        "subject": rendered.subject,
        "status": issue.status,
        "papers": [{"slug": paper.slug, "title": paper.title} for paper in papers],
        "bytes": {"html": len(html_bytes), "text": len(text_bytes), "eml": len(eml)},
    }
    files = {"issue.html": html_bytes, "issue.txt": text_bytes, "issue.eml": eml,
             "issue.json": json_bytes(summary)}
    return BuiltIssue(issue, papers, rendered, files)


def compose_issue(config: Config, date: dt.date, *, dry_run: bool = False,
                  now: dt.datetime | None = None) -> ComposeResult:
    """Render the issue for `date`, drafting it first from the pool if it does not exist."""
    now = now or dt.datetime.now(dt.UTC)
    content = load_content(config.resolve(config.content_dir))
    issue_path = config.issues_dir / f"{date.isoformat()}.md"
    selection = None
    issue = content.issues.get(date)
    if issue is None:
        issue, selection = draft_for_date(content.papers, content.issues, date, config)
    result = ComposeResult(date, issue_path, drafted=selection is not None, selection=selection,
                           folder=None, built=None, warnings=content.warnings)
    if dry_run:
        return result
    result.built = build_issue(issue, content, config, now)
    if result.drafted:
        write_text_atomic(issue_path, issue_to_markdown(issue))
    result.folder = config.outbox_path / date.isoformat()
    write_issue_folder(result.folder, result.built.files)
    return result


def paper_table(config: Config) -> list[tuple[str, str, str, str]]:
    """(slug, track, published, featured in) for `newsletter papers`."""
    content = load_content(config.resolve(config.content_dir))
    featured = featured_before(content.issues)
    return [(slug, paper.track, paper.published.iso(),
             featured[slug].isoformat() if slug in featured else "-")
            for slug, paper in sorted(content.papers.items(),
                                      key=lambda item: (item[1].published.earliest, item[0]))]
