"""Citation data of a paper, from its front matter: BibTeX and CSL JSON (what Zotero, pandoc
and citeproc read)."""

from __future__ import annotations

import re
import unicodedata
from typing import Any
from urllib.parse import urlsplit

from newsletter.content.models import Paper

_ARXIV_PATH = re.compile(r"^/(?:abs|pdf|html)/(.+?)(?:v\d+)?(?:\.pdf)?/?$")

# Lowercase name particles that belong to the family name: "Ludwig van Beethoven".
_PARTICLES = frozenset({"van", "von", "der", "den", "de", "del", "della", "di", "da", "dos", "du",
                        "la", "le", "ter", "ten", "zu"})
_BIBTEX_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "&": r"\&", "%": r"\%",
                   "$": r"\$", "#": r"\#", "_": r"\_", "~": r"\textasciitilde{}",
                   "^": r"\textasciicircum{}"}
_SPECIAL = re.compile("|".join(map(re.escape, _BIBTEX_SPECIAL)))
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_SKIPPED_WORDS = frozenset({"a", "an", "the", "on", "of", "in", "for", "and", "to", "with"})


def split_name(name: str) -> dict[str, str]:
    """A CSL name: {'given': 'Ada', 'family': 'Lovelace'}; one word is a literal name."""
    words = name.split()
    if len(words) < 2:
        return {"literal": name.strip()}
    start = next((i for i, word in enumerate(words[1:-1], 1) if word in _PARTICLES),
                 len(words) - 1)
    return {"given": " ".join(words[:start]), "family": " ".join(words[start:])}


def _ascii_word(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", folded.lower())


def citation_key(paper: Paper) -> str:
    """'raposo2025mixture': first author's family name, year, first word of the title."""
    family = split_name(paper.authors[0])
    author = _ascii_word(family.get("family", family.get("literal", ""))) or paper.slug
    words = [_ascii_word(w) for w in re.split(r"[\s:-]+", paper.title)]
    word = next((w for w in words if w and w not in _SKIPPED_WORDS), "")
    return f"{author}{paper.published.year}{word}"


def arxiv_id(paper: Paper) -> str | None:
    """The arXiv identifier of the paper's arXiv link, if it has one."""
    for url in paper.links.values():
        parts = urlsplit(url)
        match = _ARXIV_PATH.match(parts.path)
        if (parts.hostname or "").endswith("arxiv.org") and match:
            return match[1]
    return None


def _bibtex_value(text: str) -> str:
    return _SPECIAL.sub(lambda match: _BIBTEX_SPECIAL[match[0]], " ".join(text.split()))


def bibtex(paper: Paper) -> str:
    """An @inproceedings entry: the venue as booktitle, arXiv as eprint, the first link as url."""
    fields = [("title", "{" + _bibtex_value(paper.title) + "}"),
              ("author", " and ".join(_bibtex_value(a) for a in paper.authors)),
              ("booktitle", _bibtex_value(paper.venue)),
              ("year", str(paper.published.year))]
    month = _MONTHS[paper.published.month - 1]
    if identifier := arxiv_id(paper):
        fields += [("eprint", identifier), ("archiveprefix", "arXiv")]
    if paper.links:
        fields.append(("url", next(iter(paper.links.values()))))
    if paper.presentation:
        fields.append(("note", f"{paper.presentation.value} presentation"))
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return (f"@inproceedings{{{citation_key(paper)},\n{body},\n  month = {month}\n}}\n")


def csl_json(paper: Paper) -> dict[str, Any]:
    """The paper as a CSL JSON item (a conference paper)."""
    date = [paper.published.year, paper.published.month]
    if paper.published.day:
        date.append(paper.published.day)
    item: dict[str, Any] = {
        "id": citation_key(paper), "type": "paper-conference", "title": paper.title,
        "author": [split_name(author) for author in paper.authors],
        "container-title": paper.venue, "event-title": paper.venue,
        "issued": {"date-parts": [date]},
    }
    if paper.links:
        item["URL"] = next(iter(paper.links.values()))
    if identifier := arxiv_id(paper):
        item["number"] = f"arXiv:{identifier}"
    if paper.presentation:
        item["genre"] = f"{paper.presentation.value} presentation"
    return item


def citation(paper: Paper) -> dict[str, Any]:
    """What issue.json holds for a paper's citation: its key, BibTeX and CSL JSON."""
    return {"key": citation_key(paper), "bibtex": bibtex(paper), "csl": csl_json(paper)}
