"""`newsletter add ID`: a new paper file from arXiv's or Crossref's metadata.

Nothing is written unless everything worked: the identifier is checked before any request,
the pool is searched for the same paper before and after the metadata arrives, and the file
is written atomically as the last step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from newsletter.config import Config
from newsletter.content.files import write_text_atomic
from newsletter.content.identity import Identity, IdentityIndex
from newsletter.content.models import Paper
from newsletter.content.readers import require_content_folder
from newsletter.content.writers import paper_to_markdown
from newsletter.errors import ContentError, UsageError, display_path
from newsletter.sources import settings as source_settings
from newsletter.sources.arxiv import ArxivClient
from newsletter.sources.crossref import CrossrefClient
from newsletter.sources.http import Pacer, user_agent
from newsletter.sources.metadata import Metadata
from newsletter.sources.paper_files import PoolPaper, choose_track, new_paper, pool_papers, slug_for
from newsletter.sources.references import Reference, parse_reference
from newsletter.sources.settings import SourcesSettings


@dataclass
class AddResult:
    """The file written, the paper in it, and what the source said."""

    path: Path
    paper: Paper
    metadata: Metadata
    track_from: str  # '--track', 'arXiv cs.LG' or 'venue OSDI'


def add_paper(config: Config, text: str, *, track: str | None = None, slug: str | None = None,
              settings: SourcesSettings | None = None, pacer: Pacer | None = None) -> AddResult:
    """Look the paper up and write papers/<slug>.md; every failure is one NewsletterError."""
    reference = parse_reference(text)
    require_content_folder(config.resolve(config.content_dir))
    pool = pool_papers(config.papers_dir)
    _refuse_copy(pool, _known_by(reference), str(reference))
    settings = settings or source_settings.sources_settings(config)
    metadata = fetch_metadata(reference, settings, user_agent(config.reply_to or
                                                              config.from_address), pacer)
    _refuse_copy(pool, metadata.identity, str(reference))
    chosen, track_from = choose_track(metadata, explicit=track, tracks=config.tracks,
                                      arxiv_tracks=source_settings.arxiv_tracks(config),
                                      venue_tracks=config.venue_tracks)
    taken = {path.stem for path in config.papers_dir.glob("*.md")}
    if slug is not None and slug in taken:
        raise UsageError(f"--slug '{slug}' is taken: {display_path(config.papers_dir)}/"
                         f"{slug}.md exists", hint="choose another slug")
    paper = new_paper(metadata, slug=slug or slug_for(metadata.title, taken), track=chosen)
    path = config.papers_dir / f"{paper.slug}.md"
    write_text_atomic(path, paper_to_markdown(paper))
    return AddResult(path, paper, metadata, track_from)


def fetch_metadata(reference: Reference, settings: SourcesSettings, agent: str,
                   pacer: Pacer | None = None) -> Metadata:
    """The paper's metadata from arXiv (an arXiv identifier) or Crossref (a DOI)."""
    if reference.kind == "arxiv":
        return ArxivClient(settings, agent, pacer).paper(reference.value)
    return CrossrefClient(settings, agent).paper(reference.value)


def _known_by(reference: Reference) -> Identity:
    ids = frozenset({reference.value})
    return Identity("", "", ids if reference.kind == "arxiv" else frozenset(),
                    ids if reference.kind == "doi" else frozenset())


def _refuse_copy(pool: IdentityIndex[PoolPaper], paper: Identity, shown: str) -> None:
    if match := pool.find(paper):
        copy, why = match
        raise ContentError(f"{shown} is already in the pool as {display_path(copy.path)} "
                           f"({why}): nothing written",
                           hint="edit that file, or remove it to add the paper again")
