"""The arXiv API (an Atom feed, parsed with feedparser): one paper for `newsletter add`, and
which of many identifiers exist for `newsletter check --online`.

The API answers HTTP 200 for most problems: an identifier it does not know gives a feed with
no entry for it (or a single entry titled 'Error'); a withdrawn paper keeps its entry, with
the withdrawal in its comment. https://info.arxiv.org/help/api/user-manual.html
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import feedparser  # type: ignore[import-untyped]

from newsletter.content.identity import ARXIV_PATH, without_version
from newsletter.content.models import PartialDate
from newsletter.sources.http import Pacer, SourceError, get
from newsletter.sources.metadata import Metadata, clean_text, unique
from newsletter.sources.settings import SourcesSettings

# An author's comment naming a withdrawal, or an abstract replaced by one.
_WITHDRAWN_COMMENT = re.compile(r"\bwithdrawn\b", re.I)
_WITHDRAWN_SUMMARY = re.compile(r"^\W*(?:this (?:paper|article|submission|manuscript|work) "
                                r"(?:has been|is|was) )?withdrawn\b", re.I)
_ATOM = "application/atom+xml"


@dataclass(frozen=True)
class Record:
    """One entry of the feed: the paper, and whether its authors withdrew it."""

    arxiv_id: str  # without version
    version: int
    metadata: Metadata
    withdrawn: bool


@dataclass
class ArxivClient:
    """Asks the arXiv API, one request at a time, `settings.arxiv_interval` apart."""

    settings: SourcesSettings
    agent: str
    pacer: Pacer | None = None

    def __post_init__(self) -> None:
        if self.pacer is None:
            self.pacer = Pacer(self.settings.arxiv_interval)

    def lookup(self, ids: Iterable[str]) -> dict[str, Record]:
        """The records arXiv has for `ids` (without versions), by identifier; the rest absent."""
        wanted = sorted(set(ids))
        found: dict[str, Record] = {}
        step = self.settings.arxiv_batch
        for start in range(0, len(wanted), step):
            batch = wanted[start:start + step]
            params = {"id_list": ",".join(batch), "max_results": str(len(batch))}
            answer = get(self.settings.arxiv_api_url, source="arXiv", params=params,
                         accept=_ATOM, agent=self.agent, timeout=self.settings.timeout,
                         pacer=self.pacer)
            if answer.status == 404:
                raise SourceError(f"arXiv has no API at {self.settings.arxiv_api_url} (HTTP 404)",
                                  hint="check sources.arxiv_api_url in newsletter.toml")
            found.update(parse_feed(answer.body, set(batch)))
        return found

    def paper(self, arxiv_id: str) -> Metadata:
        """The metadata of one paper; a SourceError if arXiv does not have it or it is withdrawn."""
        record = self.lookup([arxiv_id]).get(arxiv_id)
        if record is None:
            raise SourceError(f"arXiv has no paper {arxiv_id}",
                              hint="check the identifier on https://arxiv.org/abs/" + arxiv_id)
        if record.withdrawn:
            raise SourceError(f"arXiv {arxiv_id} was withdrawn by its authors: not added",
                              hint="feature another paper, or a later version if one exists")
        return record.metadata


def parse_feed(body: bytes, wanted: set[str]) -> dict[str, Record]:
    """The entries of an API answer for the identifiers in `wanted`; a SourceError if it is not
    an arXiv feed, or it is arXiv's error entry."""
    feed = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
    if feed.get("bozo") or not str(feed.get("version", "")).startswith("atom"):
        why = feed.get("bozo_exception") or "not an Atom feed"
        raise SourceError(f"arXiv sent a malformed answer: {_first_line(why)}",
                          hint="try again later")
    records = {}
    for entry in feed.entries:
        if str(entry.get("title", "")).strip() == "Error":
            why = clean_text(entry.get("summary", "")) or "no reason given"
            raise SourceError(f"arXiv answered with an error: {why}",
                              hint="check the identifier")
        record = _record(entry)
        if record.arxiv_id in wanted:
            records[record.arxiv_id] = record
    return records


def _record(entry: Any) -> Record:
    match = ARXIV_PATH.match(re.sub(r"^https?://[^/]+", "", str(entry.get("id", "")).strip()))
    title = clean_text(entry.get("title", ""))
    authors = unique([clean_text(a.get("name", "")) for a in entry.get("authors", [])])
    published = str(entry.get("published", ""))[:10]
    if not match or not title or not authors or not re.fullmatch(r"\d{4}-\d\d-\d\d", published):
        raise SourceError("arXiv sent a malformed answer: an entry without its id, title, "
                          "authors or date", hint="try again later")
    versioned = match[1]
    arxiv_id = without_version(versioned)
    version = re.search(r"v(\d+)$", versioned)
    links = {"arXiv": f"https://arxiv.org/abs/{arxiv_id}",
             "PDF": f"https://arxiv.org/pdf/{arxiv_id}"}
    if doi := clean_text(entry.get("arxiv_doi", "")):
        links["DOI"] = f"https://doi.org/{doi}"
    category = (entry.get("arxiv_primary_category") or {}).get("term")
    metadata = Metadata("arXiv", f"arXiv:{arxiv_id}", title, authors,
                        PartialDate.parse(published), links,
                        venue=clean_text(entry.get("arxiv_journal_ref", "")) or None,
                        category=str(category) if category else None,
                        affiliations=_affiliations(entry))
    withdrawn = bool(_WITHDRAWN_COMMENT.search(str(entry.get("arxiv_comment", ""))) or
                     _WITHDRAWN_SUMMARY.search(clean_text(entry.get("summary", ""))))
    return Record(arxiv_id, int(version[1]) if version else 1, metadata, withdrawn)


def _affiliations(entry: Any) -> list[str]:
    # feedparser keeps only an author's last <arxiv:affiliation>, on the entry.
    found = entry.get("arxiv_affiliation")
    return unique([clean_text(found)]) if isinstance(found, str) else []


def _first_line(why: object) -> str:
    return str(why).strip().split("\n")[0]
