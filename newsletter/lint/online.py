"""`check --online`: ask arXiv whether each well-formed arXiv identifier in the content exists.

Offline, an identifier is only checked for its shape (links.py); online, one that arXiv does
not know is reported (arxiv-not-found), and so is a withdrawn paper (arxiv-withdrawn). The
identifiers go to the API in batches, one request at a time, paced as its terms ask.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from newsletter.config import Config
from newsletter.content.documents import Document
from newsletter.content.identity import link_arxiv_id
from newsletter.diagnostics import Diagnostic

_BODY_LINK = re.compile(r"https?://(?:[\w-]+\.)*arxiv\.org/(?:abs|pdf|html)/[^\s)\]>\"'<]+", re.I)

Place = tuple[Path, int | None, str]  # file, line, the link as written


def arxiv_links(doc: Document) -> Iterable[tuple[str, Place]]:
    """(identifier, where) of each well-formed arXiv link, in the front matter and the body."""
    links = doc.meta.get("links")
    for name, url in (links.items() if isinstance(links, dict) else ()):
        if isinstance(url, str) and (found := link_arxiv_id(url)):
            yield found, (doc.path, doc.value_lines.get(("links", str(name))), url)
    for offset, line in enumerate(doc.body.split("\n")):
        for match in _BODY_LINK.finditer(line):
            if found := link_arxiv_id(match[0]):
                yield found, (doc.path, doc.body_line + offset, match[0])


def online_findings(docs: Iterable[Document], config: Config) -> list[Diagnostic]:
    """A finding at each arXiv link whose paper arXiv does not have, or has withdrawn.

    A SourceError (no network, an error page, a timeout) stops the check: it could not run.
    """
    from newsletter.sources import settings as source_settings
    from newsletter.sources.arxiv import ArxivClient
    from newsletter.sources.http import user_agent

    places: dict[str, list[Place]] = defaultdict(list)
    for doc in docs:
        for identifier, place in arxiv_links(doc):
            places[identifier].append(place)
    if not places:
        return []
    client = ArxivClient(source_settings.sources_settings(config),
                         user_agent(config.reply_to or config.from_address))
    records = client.lookup(places)
    found = []
    for identifier, where in sorted(places.items()):
        record = records.get(identifier)
        if record is not None and not record.withdrawn:
            continue
        code, message, hint = (
            ("arxiv-not-found", f"arXiv has no paper {identifier}",
             "check the identifier on the paper's arXiv page, or remove the link")
            if record is None else
            ("arxiv-withdrawn", f"arXiv {identifier} was withdrawn by its authors",
             "feature another paper, or link a version that stands"))
        found += [Diagnostic("error", path, line, f"{message} (link '{url}')", hint, code)
                  for path, line, url in where]
    return found
