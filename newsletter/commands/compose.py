"""`newsletter compose` and `newsletter papers`: content + date -> selection -> outbox/<date>/."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from newsletter.compose.drafting import draft_for_date
from newsletter.compose.selection import (
    UNWRITTEN,
    SelectionResult,
    featured_before,
    unwritten_parts,
)
from newsletter.config import Config
from newsletter.content.files import write_folder_atomic, write_text_atomic
from newsletter.content.models import Issue
from newsletter.content.readers import Content, load_content
from newsletter.content.writers import issue_to_markdown
from newsletter.diagnostics import Diagnostic
from newsletter.errors import ComposeError
from newsletter.mail.archive import BuiltIssue, build_issue


@dataclass
class ComposeResult:
    date: dt.date
    issue_path: Path
    drafted: bool
    selection: SelectionResult | None
    folder: Path | None
    built: BuiltIssue | None
    warnings: list[Diagnostic] = field(default_factory=list)


def project_content(config: Config) -> Content:
    """The content folder of `config`, every paper on one of its tracks (or a ContentError)."""
    return load_content(config.resolve(config.content_dir), tracks=config.tracks)


def issue_for_date(content: Content, date: dt.date,
                   config: Config) -> tuple[Issue, SelectionResult | None]:
    """The issue file for `date`, or the draft compose would write (with how it was picked)."""
    issue = content.issues.get(date)
    if issue is not None:
        return issue, None
    return draft_for_date(content.papers, content.issues, date, config)


def refuse_unwritten(issue: Issue, content: Content) -> None:
    """A ComposeError when a paper of `issue` still has the TODO lines of `newsletter add`."""
    for slug in issue.papers:
        paper = content.papers.get(slug)
        if paper is not None and (parts := unwritten_parts(paper)):
            one = len(parts) == 1
            raise ComposeError(f"paper '{slug}' is not written yet: {', '.join(parts)} still "
                               f"{'holds' if one else 'hold'} '{UNWRITTEN} ...'",
                               path=content.paper_paths.get(slug),
                               hint=f"write {'it' if one else 'them'} in place of the TODO "
                               f"line{'' if one else 's'}; `newsletter check` lists each one")


def compose_issue(config: Config, date: dt.date, *, dry_run: bool = False,
                  now: dt.datetime | None = None) -> ComposeResult:
    """Render the issue for `date`, drafting it first from the pool if it does not exist."""
    now = now or dt.datetime.now(dt.UTC)
    content = project_content(config)
    issue_path = config.issue_path(date)
    issue, selection = issue_for_date(content, date, config)
    refuse_unwritten(issue, content)
    result = ComposeResult(date, issue_path, drafted=selection is not None, selection=selection,
                           folder=None, built=None, warnings=content.warnings)
    if dry_run:
        return result
    result.built = build_issue(issue, content, config, now)
    if result.drafted:
        write_text_atomic(issue_path, issue_to_markdown(issue))
    result.folder = config.issue_outbox(date)
    write_folder_atomic(result.folder, result.built.files)
    return result


def paper_table(config: Config) -> list[tuple[str, str, str, str]]:
    """(slug, track, published, featured in) for `newsletter papers`."""
    content = project_content(config)
    featured = featured_before(content.issues)
    return [(slug, paper.track, paper.published.iso(),
             featured[slug].isoformat() if slug in featured else "-")
            for slug, paper in sorted(content.papers.items(),
                                      key=lambda item: (item[1].published.earliest, item[0]))]
