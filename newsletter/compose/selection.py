"""Selection: pick the papers for an issue date (pure: the date and pool are passed in)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from newsletter.config import Selection
from newsletter.content.models import Issue, Paper
from newsletter.errors import ComposeError

if TYPE_CHECKING:
    from newsletter.content.identity import Identity, IdentityIndex

# The line `newsletter add` puts where the editor has to write; `check` reports it
# (unwritten-section) and the composer never picks a paper that still has one.
UNWRITTEN = "TODO: write"


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


def unwritten_parts(paper: Paper) -> list[str]:
    """What of `paper` still holds the TODO line of `newsletter add`: '## Key Finding', ..."""
    parts = [f"## {section.title}" for section in paper.sections
             if any(line.strip().startswith(UNWRITTEN) for line in section.markdown.split("\n"))]
    if paper.takeaway.startswith(UNWRITTEN):
        parts.append("takeaway")
    return parts


@dataclass
class _Eligibility:
    """What decides whether a paper may be featured on `date`."""

    date: dt.date
    window_days: int
    featured: dict[str, dt.date]
    identities: dict[str, Identity]
    shown: IdentityIndex[str]  # the papers featured before `date`, earliest first

    @classmethod
    def of(cls, papers: dict[str, Paper], issues: dict[dt.date, Issue], date: dt.date,
           window_days: int) -> _Eligibility:
        """The rules for `date`: what was featured before it, and every paper's identity."""
        # Imported here: composing an existing issue selects nothing and skips its patterns.
        from newsletter.content.identity import IdentityIndex, paper_identity

        featured = featured_before(issues, date)
        identities = {slug: paper_identity(paper) for slug, paper in papers.items()}
        shown: IdentityIndex[str] = IdentityIndex()
        for slug, _ in sorted(featured.items(), key=lambda item: (item[1], item[0])):
            if slug in identities:
                shown.add(identities[slug], slug)
        return cls(date, window_days, featured, identities, shown)

    def why_not(self, paper: Paper) -> str | None:
        """Why `paper` cannot be featured on the date, or None when it can."""
        published, oldest = paper.published.earliest, self.date - dt.timedelta(self.window_days)
        if paper.slug in self.featured:
            return f"already featured on {self.featured[paper.slug].isoformat()}"
        if match := self.shown.find(self.identities[paper.slug]):
            return f"same paper as {match[0]}, featured on {self.featured[match[0]].isoformat()}"
        if unwritten := unwritten_parts(paper):
            return f"not written yet: '{UNWRITTEN} ...' in {', '.join(unwritten)}"
        if published > self.date:
            return f"published {paper.published.iso()}, after {self.date.isoformat()}"
        if published < oldest:
            return (f"published {paper.published.iso()}, before the {self.window_days}-day "
                    f"window (from {oldest.isoformat()})")
        return None


def _eligible(papers: dict[str, Paper], rules: _Eligibility,
              result: SelectionResult) -> list[Paper]:
    """The papers that may be featured, best first, one file per paper; the rest rejected."""
    from newsletter.content.identity import IdentityIndex

    eligible, pool = [], IdentityIndex[str]()
    for paper in sorted(papers.values(), key=rank_key):
        reason = rules.why_not(paper)
        if reason is None and (copy := pool.find(rules.identities[paper.slug])):
            reason = f"same paper as {copy[0]}, also in the pool"
        if reason is None:
            eligible.append(paper)
            pool.add(rules.identities[paper.slug], paper.slug)
        else:
            result.rejections.append(Rejection(paper.slug, reason))
    return eligible


def select_papers(papers: dict[str, Paper], issues: dict[dt.date, Issue], date: dt.date,
                  policy: Selection, tracks: list[str]) -> SelectionResult:
    """Eligible papers, one per track first, then the best of the rest up to max_papers.

    A paper is never featured twice: not under its own file, and not under another file of
    the same paper (content/identity.py); of two unfeatured files of one paper, only the
    better ranked can be picked.
    """
    result = SelectionResult()
    eligible = _eligible(papers, _Eligibility.of(papers, issues, date, policy.window_days),
                         result)
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
