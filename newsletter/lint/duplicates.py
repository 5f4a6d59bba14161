"""The same paper in two files: same title, same short name at a venue, same arXiv identifier."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from newsletter.diagnostics import Diagnostic
from newsletter.lint.links import ARXIV_PATH, PLACEHOLDER, arxiv_id_problem

_TITLE_SPLIT = re.compile(r":|\s[-–—]\s")


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[^\w]+", " ", text.casefold()).split())


@dataclass(frozen=True)
class PaperEntry:
    """What duplicate detection needs to know about one paper file."""

    slug: str
    path: Path
    title: str
    venue: str
    links: tuple[str, ...]
    title_line: int | None
    featured: str | None  # ISO date of the first issue featuring it

    @property
    def short_name(self) -> str:
        """'Mixture of Depths - Conditional ...' and 'Mixture-of-Depths: Dynamic ...' agree."""
        return _normal(_TITLE_SPLIT.split(self.title, maxsplit=1)[0])

    @property
    def arxiv_ids(self) -> set[str]:
        ids = set()
        for url in self.links:
            parts = urlsplit(url)
            match = ARXIV_PATH.match(parts.path)
            if match and parts.hostname and parts.hostname.endswith("arxiv.org") and \
                    arxiv_id_problem(match[1]) is None and not PLACEHOLDER.search(url):
                ids.add(re.sub(r"v\d+$", "", match[1]))
        return ids


def _same_paper(a: PaperEntry, b: PaperEntry) -> str | None:
    if _normal(a.title) == _normal(b.title):
        return "the same title"
    if a.short_name and a.short_name == b.short_name and _normal(a.venue) == _normal(b.venue):
        return f"the same name '{_TITLE_SPLIT.split(a.title, maxsplit=1)[0].strip()}' at {a.venue}"
    if shared := a.arxiv_ids & b.arxiv_ids:
        return f"the same arXiv identifier {min(shared)}"
    return None


def duplicate_rules(entries: list[PaperEntry]) -> list[Diagnostic]:
    """The same paper in two files; reported at the one featured later (or never)."""
    order = sorted(entries, key=lambda e: (e.featured is None, e.featured or "", e.slug))
    found = []
    for position, later in enumerate(order):
        for earlier in order[:position]:
            if why := _same_paper(earlier, later):
                when = f", featured on {earlier.featured}" if earlier.featured else ""
                drop = f"the {later.featured} issue" if later.featured else "the pool"
                found.append(Diagnostic(
                    "error", later.path, later.title_line,
                    f"same paper as {earlier.path.name} ('{earlier.title}'{when}): {why}",
                    f"feature a paper once: remove it from {drop}, or merge the two files",
                    "duplicate-paper"))
                break
    return found
