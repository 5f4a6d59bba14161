"""Rules on front matter: a paper's links and track, an issue's list of papers."""

from __future__ import annotations

from collections.abc import Collection

from newsletter.content.documents import Document
from newsletter.content.readers import unknown_track
from newsletter.diagnostics import Diagnostic
from newsletter.lint.links import link_problem


def front_matter_rules(doc: Document, tracks: Collection[str] | None = None,
                       known_papers: set[str] | None = None) -> list[Diagnostic]:
    """Links and track of a paper (`tracks`), or the paper list of an issue (`known_papers`)."""
    found = []
    lines = doc.value_lines
    links = doc.meta.get("links")
    for name, url in (links.items() if isinstance(links, dict) else ()):
        arxiv = str(name).casefold() == "arxiv"
        if isinstance(url, str) and (problem := link_problem(url, arxiv=arxiv)):
            found.append(Diagnostic("error", doc.path, lines.get(("links", str(name))),
                                    problem.message, problem.hint, problem.code))
    if tracks is not None and (track_error := unknown_track(doc, tracks)):
        found.append(Diagnostic.from_error(track_error, track_error.code))
    papers = doc.meta.get("papers")
    if known_papers is not None and isinstance(papers, list):
        for slug in papers:
            if isinstance(slug, str) and slug not in known_papers:
                found.append(Diagnostic("error", doc.path, lines.get(("papers", slug)),
                                        f"issue names a missing paper '{slug}'",
                                        f"add papers/{slug}.md or fix the slug", "missing-paper"))
    return found
