"""What a source says about a paper, before it becomes a paper file."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from newsletter.content.identity import Identity, identity
from newsletter.content.models import PartialDate


@dataclass(frozen=True)
class Metadata:
    """One paper as arXiv or Crossref describes it."""

    source: str  # 'arXiv' or 'Crossref'
    reference: str  # 'arXiv:2404.02258' or 'doi:10.1145/...'
    title: str
    authors: list[str]
    published: PartialDate
    links: dict[str, str]
    venue: str | None = None
    category: str | None = None  # arXiv's primary category, e.g. cs.LG
    affiliations: list[str] = field(default_factory=list)
    # Other names of the venue, for [venue_tracks] only: 'SOSP '23' for 'Proceedings of ...'.
    venue_aliases: list[str] = field(default_factory=list)

    @property
    def identity(self) -> Identity:
        """The identity of the paper this describes, to compare with the pool."""
        return identity(self.title, self.venue or "", self.links.values())


def clean_text(text: str) -> str:
    """Markup and line breaks out: '<i>Ray</i>:\\n  A Framework' -> 'Ray: A Framework'."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", text)).split())


def unique(items: list[str]) -> list[str]:
    """`items` without repeats or blanks, in order."""
    return list(dict.fromkeys(item for item in items if item))
