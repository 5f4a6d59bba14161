"""A paper's identity: what makes two files, or a file and a record, the same paper.

One definition for every caller: `check` reports the same paper in two files
(`duplicate-paper`), the composer never features it twice, and `newsletter add` refuses a
paper already in the pool. Two papers are the same when they share a normalised title, a short
name (before ':' or ' - ') at the same venue, an arXiv identifier (without its version) or a
DOI. Links are matched with patterns, not parsed: this runs on the compose path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from newsletter.content.models import Paper

T = TypeVar("T")

_TITLE_SPLIT = re.compile(r":|\s[-–—]\s")
ARXIV_PATH = re.compile(r"^/(?:abs|pdf|html)/(.+?)(?:\.pdf)?/?$")
_ARXIV_NEW = re.compile(r"(\d\d)(\d\d)\.(\d+)(?:v\d+)?")
_ARXIV_OLD = re.compile(r"[a-z]+(?:-[a-z]+)?(?:\.[A-Za-z-]{2,})?/(\d\d)(\d\d)(\d{3})(?:v\d+)?")
_VERSION = re.compile(r"v\d+$")
# scheme://host[:port]/path, without query or fragment: enough to tell arXiv and DOI links.
_URL = re.compile(r"^https?://(?P<host>[^/?#:\s]+)(?::\d+)?(?P<path>/[^?#\s]*)?", re.I)
_ARXIV_HOST = re.compile(r"^(?:[\w-]+\.)*arxiv\.org$", re.I)
_DOI_HOST = re.compile(r"^(?:dx\.|www\.)?doi\.org$", re.I)
DOI = re.compile(r"^10\.\d{4,9}/\S+$")
ARXIV_DOI_PREFIX = "10.48550/arxiv."  # arXiv's own DOIs: 10.48550/arXiv.2404.02258


def arxiv_id_problem(identifier: str) -> str | None:
    """Why an arXiv identifier is invalid, or None: new-style YYMM.NNNNN, old-style a/YYMMNNN."""
    if match := _ARXIV_NEW.fullmatch(identifier):
        year, month, digits = int(match[1]), int(match[2]), len(match[3])
        if not 1 <= month <= 12:
            return f"month {match[2]} does not exist (new-style identifiers are YYMM.NNNNN)"
        if (year, month) < (7, 4):
            return "new-style identifiers start in April 2007 (0704)"
        expected = 4 if (year, month) < (15, 1) else 5
        if digits != expected:
            return f"identifiers from 20{match[1]}-{match[2]} have {expected} digits after the dot"
        return None
    if match := _ARXIV_OLD.fullmatch(identifier):
        month = int(match[2])
        return None if 1 <= month <= 12 else f"month {match[2]} does not exist"
    return "it is neither YYMM.NNNNN nor archive/YYMMNNN"


def without_version(identifier: str) -> str:
    """'2404.02258v2' -> '2404.02258'."""
    return _VERSION.sub("", identifier)


def normal_text(text: str) -> str:
    """Case, punctuation and spacing folded: 'Mixture-of-Depths' == 'mixture of depths'."""
    return " ".join(re.sub(r"[^\w]+", " ", text.casefold()).split())


def short_name(title: str) -> str:
    """The name before ':' or ' - ': 'Mixture-of-Depths' of 'Mixture-of-Depths: Dynamic ...'."""
    return _TITLE_SPLIT.split(title, maxsplit=1)[0].strip()


def link_arxiv_id(url: str) -> str | None:
    """The valid arXiv identifier (without version) an arxiv.org or arXiv DOI link names."""
    match = _URL.match(url.strip())
    if not match:
        return None
    host, path = match["host"], match["path"] or ""
    if _ARXIV_HOST.match(host):
        found = ARXIV_PATH.match(path)
        if found and arxiv_id_problem(found[1]) is None:
            return without_version(found[1])
        return None
    doi = link_doi(url)
    if doi and doi.startswith(ARXIV_DOI_PREFIX):
        candidate = doi.removeprefix(ARXIV_DOI_PREFIX)
        return without_version(candidate) if arxiv_id_problem(candidate) is None else None
    return None


def link_doi(url: str) -> str | None:
    """The DOI (lowercase: DOIs ignore case) a doi.org link names, or None."""
    match = _URL.match(url.strip())
    if not match or not _DOI_HOST.match(match["host"]):
        return None
    doi = _unquote(match["path"] or "").lstrip("/").rstrip("/").lower()
    return doi if DOI.match(doi) else None


def _unquote(path: str) -> str:
    # Only the escapes a DOI link really carries; urllib.parse stays off the compose path.
    return re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m[1], 16)), path)


@dataclass(frozen=True)
class Identity:
    """What a paper is known by: its title, its short name at a venue, its identifiers."""

    title: str  # as written
    venue: str
    arxiv_ids: frozenset[str]
    dois: frozenset[str]

    @property
    def name(self) -> str:
        """The short name before ':' or ' - ' (the whole title when it has none)."""
        return short_name(self.title)

    def match_keys(self) -> Iterator[tuple[str, ...]]:
        """Each thing it shares with any copy of the same paper."""
        if title := normal_text(self.title):
            yield ("title", title)
        if name := normal_text(self.name):
            yield ("name", name, normal_text(self.venue))
        yield from (("arxiv", arxiv) for arxiv in sorted(self.arxiv_ids))
        yield from (("doi", doi) for doi in sorted(self.dois))


def identity(title: str, venue: str, links: Iterable[str]) -> Identity:
    """The identity of a paper with this title, venue and link URLs."""
    urls = list(links)
    arxiv = {found for url in urls if (found := link_arxiv_id(url))}
    dois = {found for url in urls if (found := link_doi(url))}
    return Identity(title.strip(), venue.strip(), frozenset(arxiv), frozenset(dois))


def paper_identity(paper: Paper) -> Identity:
    """The identity of a paper file."""
    return identity(paper.title, paper.venue, paper.links.values())


def same_paper(a: Identity, b: Identity) -> str | None:
    """Why `a` and `b` are the same paper ('the same arXiv identifier 2404.02258'), or None."""
    if normal_text(a.title) and normal_text(a.title) == normal_text(b.title):
        return "the same title"
    if normal_text(a.name) and normal_text(a.name) == normal_text(b.name) \
            and normal_text(a.venue) == normal_text(b.venue):
        return f"the same name '{a.name}' at {a.venue}"
    if shared := a.arxiv_ids & b.arxiv_ids:
        return f"the same arXiv identifier {min(shared)}"
    if shared := a.dois & b.dois:
        return f"the same DOI {min(shared)}"
    return None


class IdentityIndex(Generic[T]):
    """Papers by identity, in the order added: which earlier one is the same paper as this?"""

    def __init__(self) -> None:
        self._first: dict[tuple[str, ...], tuple[int, T, Identity]] = {}
        self._count = 0

    def add(self, paper: Identity, item: T) -> None:
        """Remember `item` as the paper `paper` (an earlier item keeps any key they share)."""
        for key in paper.match_keys():
            self._first.setdefault(key, (self._count, item, paper))
        self._count += 1

    def find(self, paper: Identity) -> tuple[T, str] | None:
        """The first item added that is the same paper as `paper`, and why; or None."""
        found = [self._first[key] for key in paper.match_keys() if key in self._first]
        if not found:
            return None
        _, item, earlier = min(found, key=lambda entry: entry[0])
        return item, same_paper(earlier, paper) or "the same paper"
