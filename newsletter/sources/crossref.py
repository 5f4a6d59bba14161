"""Crossref's REST API (https://api.crossref.org/works/{doi}, JSON): one paper by its DOI.

An unknown DOI is an HTTP 404 ('Resource not found.'). A retracted or withdrawn work is
named in its record's `updated-by` list, which Crossref fills from the notices publishers
deposit and from Retraction Watch.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from newsletter.content.identity import ARXIV_DOI_PREFIX, arxiv_id_problem, without_version
from newsletter.content.models import PartialDate
from newsletter.sources.http import SourceError, get
from newsletter.sources.metadata import Metadata, clean_text, unique
from newsletter.sources.settings import SourcesSettings

_DATES = ("issued", "published-print", "published-online", "published", "created")
_WITHDRAWALS = {"retraction": "retracted", "withdrawal": "withdrawn", "removal": "removed"}


@dataclass
class CrossrefClient:
    """Asks Crossref for a work's metadata."""

    settings: SourcesSettings
    agent: str

    def paper(self, doi: str) -> Metadata:
        """The metadata of the work with this DOI; a SourceError if there is none, or it was
        retracted or withdrawn."""
        url = f"{self.settings.crossref_url}/{quote(doi, safe='/:;()')}"
        answer = get(url, source="Crossref", accept="application/json", agent=self.agent,
                     timeout=self.settings.timeout)
        if answer.status == 404:
            raise SourceError(f"Crossref has no work with DOI {doi}",
                              hint=f"check the DOI on https://doi.org/{doi}")
        work = _message(answer.body)
        if updates := _withdrawals(work):
            raise SourceError(f"doi:{doi} was {updates}: not added",
                              hint="feature another paper")
        return parse_work(work, doi)


def _message(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceError(f"Crossref sent a malformed answer: {exc}",
                          hint="try again later") from exc
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, dict) or data.get("status", "ok") != "ok":
        raise SourceError("Crossref sent a malformed answer: no work in it",
                          hint="try again later")
    return message


def _withdrawals(work: dict[str, Any]) -> str:
    """'retracted' (or 'withdrawn', 'removed') when the record says so, else ''."""
    kinds = {str(update.get("type", "")).lower() for update in _list(work.get("updated-by"))
             if isinstance(update, dict)}
    return " and ".join(sorted(_WITHDRAWALS[kind] for kind in kinds if kind in _WITHDRAWALS))


def parse_work(work: dict[str, Any], doi: str) -> Metadata:
    """A Crossref work (or CSL JSON, which has the same names) as Metadata."""
    title = _title(work)
    authors = unique([_author(person) for person in _list(work.get("author"))])
    published = _published(work)
    if not title or not authors or published is None:
        missing = "title" if not title else "authors" if not authors else "date"
        raise SourceError(f"Crossref's record of doi:{doi} has no {missing}",
                          hint="add the paper by hand, or by its arXiv identifier")
    found = str(work.get("DOI") or doi).lower()
    links = {"DOI": f"https://doi.org/{found}"}
    if preprint := _preprint(work):
        links = {"arXiv": f"https://arxiv.org/abs/{preprint}", **links}
    venue, aliases = _venue(work)
    affiliations = [clean_text(str(place.get("name", "")))
                    for person in _list(work.get("author")) if isinstance(person, dict)
                    for place in _list(person.get("affiliation")) if isinstance(place, dict)]
    return Metadata("Crossref", f"doi:{found}", title, authors, published, links,
                    venue=venue or None, affiliations=unique(affiliations),
                    venue_aliases=aliases)


def _venue(work: dict[str, Any]) -> tuple[str, list[str]]:
    """The container's title ('Proceedings of ...'), and the venue's other names ('SOSP '23')."""
    found = work.get("event")
    event: dict[str, Any] = found if isinstance(found, dict) else {}
    aliases = unique([_first(work.get("short-container-title")),
                      clean_text(str(event.get("acronym", ""))),
                      clean_text(str(event.get("name", "")))])
    venue = _first(work.get("container-title")) or next(iter(aliases), "") or \
        clean_text(str(work.get("publisher", "")))
    return venue, aliases


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _first(value: Any) -> str:
    """The first text of a Crossref list ('container-title': [...]) or a CSL string."""
    items = value if isinstance(value, list) else [value]
    return next((clean_text(item) for item in items if isinstance(item, str) and item.strip()),
                "")


def _title(work: dict[str, Any]) -> str:
    title, subtitle = _first(work.get("title")), _first(work.get("subtitle"))
    if subtitle and subtitle.casefold() not in title.casefold():
        return f"{title}: {subtitle}"
    return title


def _author(person: Any) -> str:
    if not isinstance(person, dict):
        return ""
    name = " ".join(str(person.get(part, "")).strip() for part in ("given", "family"))
    return clean_text(name) or clean_text(str(person.get("name", "")))


def _published(work: dict[str, Any]) -> PartialDate | None:
    """The first of Crossref's dates that has at least a month: [[2023, 10, 23]]."""
    for key in _DATES:
        stamp = work.get(key)
        parts = stamp.get("date-parts") if isinstance(stamp, dict) else None
        first = parts[0] if isinstance(parts, list) and parts else None
        if isinstance(first, list) and len(first) >= 2 and \
                all(isinstance(n, int) for n in first[:3]):
            try:
                return PartialDate.parse("-".join(f"{n:02d}" for n in first[:3]))
            except ValueError:
                continue
    return None


def _preprint(work: dict[str, Any]) -> str | None:
    """The arXiv identifier of the work's preprint, when the record names one."""
    relation = work.get("relation")
    for item in _list(relation.get("has-preprint") if isinstance(relation, dict) else None):
        if not isinstance(item, dict):
            continue
        value, kind = str(item.get("id", "")).strip(), str(item.get("id-type", "")).lower()
        if kind == "doi" and value.lower().startswith(ARXIV_DOI_PREFIX):
            candidate = value[len(ARXIV_DOI_PREFIX):]
        elif kind == "arxiv":
            candidate = re.sub(r"^arxiv:", "", value, flags=re.I)
        else:
            continue
        if arxiv_id_problem(candidate) is None:
            return without_version(candidate)
    return None
