"""Drafting: the issue file compose writes for a date that has none (pure)."""

from __future__ import annotations

import datetime as dt

from newsletter.compose.selection import SelectionResult, select_papers
from newsletter.config import Config
from newsletter.content.models import BOTTOM_LINE, Issue, Paper, Section, default_subject


def draft_issue(date: dt.date, papers: list[Paper], title: str) -> Issue:
    """A draft issue for the picked papers; its Bottom Line is built from their takeaways."""
    bullets = "\n".join(f"- **{paper.title}**: {paper.takeaway}" for paper in papers)
    bottom_line = Section(title=BOTTOM_LINE, markdown=bullets)
    return Issue(date=date, subject=default_subject(title, date),
                 papers=[paper.slug for paper in papers], status="draft",
                 sections=[bottom_line])


def draft_for_date(papers: dict[str, Paper], issues: dict[dt.date, Issue], date: dt.date,
                   config: Config) -> tuple[Issue, SelectionResult]:
    """The draft `compose` writes for a date without an issue file, and how it was picked."""
    selection = select_papers(papers, issues, date, config.selection, config.tracks)
    return draft_issue(date, selection.papers, config.title), selection
