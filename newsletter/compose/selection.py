"""Selection: pick the papers for an issue date (pure: the date and pool are passed in)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from newsletter.config import Selection
from newsletter.content.models import Issue, Paper
from newsletter.errors import ComposeError


@dataclass(frozen=True)
class Rejection:
    slug: str
    reason: str


@dataclass
class SelectionResult:
    picks: list[tuple[Paper, str]] = field(default_factory=list)  # (paper, why it was picked)
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def papers(self) -> list[Paper]:
        return [paper for paper, _ in self.picks]


def rank_key(paper: Paper) -> tuple:
    """Oral > Spotlight > Poster > none, then newest, then title A-Z."""
    prominence = paper.presentation.rank if paper.presentation else 0
    return (-prominence, -paper.published.earliest.toordinal(), paper.title.casefold())


def featured_before(issues: dict[dt.date, Issue],
                    date: dt.date = dt.date.max) -> dict[str, dt.date]:
    """slug -> date of the earliest issue before `date` (by default: any) that featured it."""
    featured: dict[str, dt.date] = {}
    for issue_date in sorted(issues):
        if issue_date < date:
            for slug in issues[issue_date].papers:
                featured.setdefault(slug, issue_date)
    return featured


def select_papers(papers: dict[str, Paper], issues: dict[dt.date, Issue], date: dt.date,
                  policy: Selection, tracks: list[str]) -> SelectionResult:
    """Eligible papers, one per track first, then the best of the rest up to max_papers."""
    result = SelectionResult()
    featured = featured_before(issues, date)
    oldest = date - dt.timedelta(days=policy.window_days)
    eligible = []
    for paper in sorted(papers.values(), key=rank_key):
        published = paper.published.earliest
        if paper.slug in featured:
            reason = f"already featured on {featured[paper.slug].isoformat()}"
        elif published > date:
            reason = f"published {paper.published.iso()}, after {date.isoformat()}"
        elif published < oldest:
            reason = (f"published {paper.published.iso()}, before the {policy.window_days}-day "
                      f"window (from {oldest.isoformat()})")
        else:
            eligible.append(paper)
            continue
        result.rejections.append(Rejection(paper.slug, reason))

    for track in tracks:
        best = next((p for p in eligible if p.track == track), None)
        if best and len(result.picks) < policy.max_papers:
            result.picks.append((best, f"best of track '{track}'"))
            eligible.remove(best)
    while eligible and len(result.picks) < policy.max_papers:
        result.picks.append((eligible.pop(0), "next by rank"))
    for paper in eligible:
        full = f"issue is full ({policy.max_papers} papers)"
        result.rejections.append(Rejection(paper.slug, full))
    if not result.picks:
        raise ComposeError(f"no eligible paper for {date.isoformat()}",
                           hint="add papers under seeds/papers/ or widen selection.window_days")
    return result
