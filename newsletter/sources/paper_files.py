"""A new paper file from a source's metadata, and the pool it must not repeat.

The sections the editor has to write hold a `TODO: write ...` line: `check` reports each as an
error (unwritten-section) and the composer never picks such a paper, so an unwritten paper
is never sent.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from newsletter.compose.selection import UNWRITTEN
from newsletter.content.documents import read_document
from newsletter.content.identity import Identity, IdentityIndex, identity, short_name
from newsletter.content.models import Paper, Section
from newsletter.errors import ConfigError, ContentError, UsageError, field_problem
from newsletter.sources.metadata import Metadata

KEY_FINDING = f"{UNWRITTEN} the key finding: what the paper found, with its numbers."
WHY_IT_MATTERS = f"{UNWRITTEN} why it matters: for whom, and what it changes for them."
TAKEAWAY = f"{UNWRITTEN} the one-line takeaway for the Bottom Line."
_MAX_SLUG = 60


@dataclass(frozen=True)
class PoolPaper:
    """A paper file already in the pool, as far as its identity goes."""

    slug: str
    path: Path
    identity: Identity


def pool_papers(papers_dir: Path) -> IdentityIndex[PoolPaper]:
    """Every paper file with a title, by identity; a file that cannot be read is skipped
    (`check` reports it), so one broken file does not block adding another."""
    index: IdentityIndex[PoolPaper] = IdentityIndex()
    for path in sorted(papers_dir.glob("*.md")):
        try:
            meta = read_document(path).meta
        except ContentError:
            continue
        title, venue, links = meta.get("title"), meta.get("venue"), meta.get("links")
        if isinstance(title, str):
            urls = [str(url) for url in links.values()] if isinstance(links, dict) else []
            found = identity(title, venue if isinstance(venue, str) else "", urls)
            index.add(found, PoolPaper(path.stem, path, found))
    return index


def choose_track(meta: Metadata, *, explicit: str | None, tracks: Sequence[str],
                 arxiv_tracks: Mapping[str, str], venue_tracks: Mapping[str, str]
                 ) -> tuple[str, str]:
    """(track, where it came from): --track, the arXiv category, else the venue."""
    if explicit is not None:
        if explicit not in tracks:
            raise UsageError(f"--track '{explicit}' is not a track",
                             hint=f"use one of: {', '.join(tracks)}")
        return explicit, "--track"
    category = meta.category or ""
    for key in (category, category.split(".")[0]):
        if key and key in arxiv_tracks:
            return _known(arxiv_tracks[key], tracks, f"[arxiv_tracks] {key}"), f"arXiv {category}"
    venues = " | ".join([meta.venue or "", *meta.venue_aliases])
    for name, track in venue_tracks.items():
        if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", venues, re.I):
            return _known(track, tracks, f"[venue_tracks] {name}"), f"venue {name}"
    what = f"its arXiv category {category} is not in [arxiv_tracks]" if category else \
        "its venue is not in [venue_tracks]"
    example = f'{category} = "{tracks[0]}"' if category and tracks else "..."
    raise UsageError(f"no track for {meta.reference}: {what}",
                     hint=f"pass --track, or add '{example}' under [arxiv_tracks] "
                     "in newsletter.toml")


def _known(track: str, tracks: Sequence[str], setting: str) -> str:
    if track not in tracks:
        raise ConfigError(f"{setting} maps to '{track}', which is not one of the tracks",
                          hint=f"use one of: {', '.join(tracks)}, or add it to 'tracks'")
    return track


def slug_for(title: str, taken: set[str]) -> str:
    """'mixture-of-depths' for 'Mixture-of-Depths: Dynamically ...'; '-2' when taken."""
    def slugify(text: str) -> str:
        plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
        slug = re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")
        if len(slug) > _MAX_SLUG:
            slug = "-".join(slug[: _MAX_SLUG + 1].split("-")[:-1]) or slug[:_MAX_SLUG]
        return slug.strip("-")

    base = slugify(short_name(title)) or slugify(title) or "paper"
    candidate, number = base, 2
    while candidate in taken:
        candidate, number = f"{base}-{number}", number + 1
    return candidate


def new_paper(meta: Metadata, *, slug: str, track: str) -> Paper:
    """The paper file's model: the metadata, and TODO lines where the editor writes."""
    try:
        return Paper(slug=slug, title=meta.title, authors=meta.authors,
                     affiliations=meta.affiliations,
                     venue=meta.venue or ("arXiv" if meta.source == "arXiv" else "unknown"),
                     published=meta.published, track=track, links=meta.links,
                     takeaway=TAKEAWAY,
                     sections=[Section(title="Key Finding", markdown=KEY_FINDING),
                               Section(title="Why It Matters", markdown=WHY_IT_MATTERS)])
    except ValidationError as exc:
        name, problem = field_problem(exc.errors()[0])
        raise UsageError(f"cannot make a paper of {meta.reference}: '{name}': {problem}",
                         hint="pass a valid --slug" if name == "slug" else None) from exc
