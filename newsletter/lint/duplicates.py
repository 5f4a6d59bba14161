"""The same paper in two files, by the identity the composer uses too (content/identity.py)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from newsletter.content.identity import Identity, IdentityIndex, identity
from newsletter.diagnostics import Diagnostic


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

    @cached_property
    def identity(self) -> Identity:
        """The paper's identity, as the composer sees it (content/identity.py)."""
        return identity(self.title, self.venue, self.links)


def duplicate_rules(entries: list[PaperEntry]) -> list[Diagnostic]:
    """The same paper in two files; reported at the one featured later (or never)."""
    order = sorted(entries, key=lambda e: (e.featured is None, e.featured or "", e.slug))
    earlier: IdentityIndex[PaperEntry] = IdentityIndex()
    found = []
    for later in order:
        if match := earlier.find(later.identity):
            first, why = match
            when = f", featured on {first.featured}" if first.featured else ""
            drop = f"the {later.featured} issue" if later.featured else "the pool"
            found.append(Diagnostic(
                "error", later.path, later.title_line,
                f"same paper as {first.path.name} ('{first.title}'{when}): {why}",
                f"feature a paper once: remove it from {drop}, or merge the two files",
                "duplicate-paper"))
        earlier.add(later.identity, later)
    return found
