"""Parse one legacy plain-text issue (no file I/O): its issue, its papers, what was lost."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from newsletter.content.models import Issue, Paper, PartialDate, Presentation
from newsletter.diagnostics import Diagnostic
from newsletter.errors import ContentError, field_problem
from newsletter.importers.legacy.sections import (
    WHY_IT_MATTERS,
    SectionBuilder,
    first_sentence,
    is_heading,
    is_issue_heading,
)

UNSORTED = "unsorted"
KEY_FINDING = "Key Finding"
_MAX_SLUG = 60
_DATE = re.compile(r"([A-Z][a-z]+\.?\s+\d{1,2},\s*\d{4})")
_PAPER = re.compile(r"^Paper\s+\d+\s*[:.]\s*(\S.*)$", re.IGNORECASE)
_NUMBERED = re.compile(r"^\d+[.)]\s+(\S.*)$")
_META = re.compile(r"^(Title|Authors?|Venue|Published|Date|arXiv|Link|Paper Link)\s*:\s*(.*)$",
                   re.IGNORECASE)
_LINK_KEYS = {"arxiv", "link", "paper link"}
_INSTITUTION = re.compile(r"\b(Universit(y|ies)|Institute|Labs?|Laborator(y|ies)|Research|"
                          r"CSAIL|MIT|CMU|ETH|DeepMind|Google|Microsoft|Meta|Berkeley|Stanford|"
                          r"College|School)\b")
_INITIALS = re.compile(r"^(?:[A-Z]\.\s?)+(?:-[A-Z]\.)?$")
_AUTHOR_SPLIT = re.compile(r"\s*,\s*(?:and\s+|&\s*)?|\s+and\s+|\s*&\s+")
_AFFILIATION_SPLIT = re.compile(r"\s*,\s*|\s+&\s+|\s+and\s+")
_QUOTES = "“”\"‘’'"
_SMALL_TAIL = {"a", "an", "the", "and", "or", "of", "with", "in", "for", "to", "on", "at", "by"}


@dataclass
class LegacyIssue:
    """One parsed legacy document. Paper slugs are provisional until `import_legacy`."""

    source: Path
    issue: Issue
    papers: list[Paper]
    warnings: list[Diagnostic] = field(default_factory=list)


def parse_legacy(text: str, source: Path,
                 venue_tracks: Mapping[str, str] | None = None) -> LegacyIssue:
    """Parse a legacy issue (no file I/O). `venue_tracks` maps a venue's first word to a track.

    Raises ContentError for a document that cannot be imported (no date, no paper...).
    """
    lines = [(number, line.strip()) for number, line in
             enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), start=1)
             if line.strip()]
    if not lines:
        raise ContentError("is empty", path=source, line=1,
                           hint="a legacy issue starts with a line like "
                                "'Research Update: November 28, 2025'")
    title_line, subject = lines[0]
    date = _issue_date(subject, source, title_line)
    body, papers_heading, chunks = _outline(lines, subject, source)
    if not chunks:
        raise ContentError("no paper found", path=source, line=title_line,
                           hint="start each paper with a 'Paper 1: Title' or '1. Title' line "
                                "followed by 'Authors:'")
    warnings = list(body.warnings)
    papers: list[Paper] = []
    for chunk in chunks:
        paper = _parse_paper(chunk, source, venue_tracks or {}, warnings)
        slug = unique_name(paper.slug, {p.slug for p in papers})
        papers.append(paper.model_copy(update={"slug": slug}))
    intro = "\n\n".join(block.markdown for block in body.intro)
    try:
        issue = Issue(date=date, subject=subject, papers=[p.slug for p in papers],
                      status="sent", papers_heading=papers_heading, intro=intro,
                      sections=body.built(), imported_from=source.name)
    except ValidationError as exc:
        raise ContentError(f"issue: {field_problem(exc.errors()[0])[1]}", path=source,
                           line=title_line) from exc
    warnings.sort(key=lambda w: w.line or 0)
    return LegacyIssue(source, issue, papers, warnings)


def _issue_date(subject: str, source: Path, line: int) -> dt.date:
    match = _DATE.search(subject)
    hint = "start the file with a title line like 'Research Update: November 28, 2025'"
    if not match:
        raise ContentError(f"no date in the title line '{subject}'", path=source, line=line,
                           hint=hint)
    text = " ".join(match[1].replace(".", "").split())
    for fmt in ("%B %d, %Y", "%b %d, %Y"):  # "November 28, 2025", also "Nov 28, 2025"
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ContentError(f"'{match[1]}' is not a date", path=source, line=line, hint=hint)


def _is_paper_header(line: str, following: str) -> bool:
    """'Paper 1: Title', or '1. Title' directly followed by 'Title:' or 'Authors:'."""
    if _PAPER.match(line):
        return True
    return bool(_NUMBERED.match(line)) and bool(re.match(r"(Title|Authors?)\s*:", following,
                                                         re.IGNORECASE))


def _outline(lines: list[tuple[int, str]], subject: str, source: Path
             ) -> tuple[SectionBuilder, str | None, list[list[tuple[int, str]]]]:
    """The issue's own text (intro and closing sections), its papers heading, and one chunk
    of (line number, text) per paper."""
    body = SectionBuilder(source, issue_level=True)
    papers_heading: str | None = None
    chunks: list[list[tuple[int, str]]] = []
    state = "header"
    for index, (number, line) in enumerate(lines[1:], start=1):
        following = lines[index + 1][1] if index + 1 < len(lines) else ""
        if _is_paper_header(line, following):
            body.finish()
            chunks.append([(number, line)])
            state = "paper"
        elif is_issue_heading(line):
            state = "issue"
            body.heading(line, number)
        elif state == "paper":
            chunks[-1].append((number, line))
        elif state == "header" and _normalise(line) == _normalise(subject):
            continue  # the title repeated: duplication, not content
        elif (state == "header" and papers_heading is None and not body.intro
              and not chunks and is_heading(line)):
            papers_heading = line
        else:
            body.add(line, number)
    body.finish()
    return body, papers_heading, chunks


def _read_fields(chunk: list[tuple[int, str]], source: Path, warnings: list[Diagnostic]
                 ) -> tuple[dict[str, tuple[int, str]], dict[str, str], SectionBuilder]:
    """A paper's 'Key: value' lines (with their line numbers), its links, and its body."""
    meta: dict[str, tuple[int, str]] = {}
    links: dict[str, str] = {}
    body = SectionBuilder(source)
    for number, line in chunk[1:]:
        field_match = _META.match(line)
        key = field_match[1].casefold() if field_match else ""
        if field_match and key in _LINK_KEYS:
            _add_link(links, field_match[2].strip(), source, number, warnings)
        elif field_match and not body.sections:
            key = {"author": "authors", "date": "published"}.get(key, key)
            if key in meta:
                raise ContentError(f"a second '{field_match[1]}:' line for one paper",
                                   path=source, line=number,
                                   hint=f"keep one (the first is on line {meta[key][0]})")
            meta[key] = (number, field_match[2].strip())
        else:
            body.add(line, number)
    body.finish()
    return meta, links, body


def _key_finding(body: SectionBuilder, title: str, source: Path, header_line: int) -> str:
    """The first text under Key Finding; the paper's required sections must all be there."""
    if body.intro:
        raise ContentError("text before the paper's first section heading", path=source,
                           line=body.intro[0].line, hint="add a 'Key Finding' line above it")
    for required in (KEY_FINDING, WHY_IT_MATTERS):
        if not any(s.title == required for s in body.sections):
            raise ContentError(f"paper '{title}' has no '{required}' section", path=source,
                               line=header_line, hint=f"add a '{required}' heading line")
    first = body.first_text(KEY_FINDING)
    if first is None:
        raise ContentError(f"paper '{title}' has nothing under 'Key Finding'", path=source,
                           line=header_line, hint="write the key finding under its heading")
    return first[0]


def _parse_paper(chunk: list[tuple[int, str]], source: Path, venue_tracks: Mapping[str, str],
                 warnings: list[Diagnostic]) -> Paper:
    header_line, header = chunk[0]
    match = _PAPER.match(header) or _NUMBERED.match(header)
    headline = _strip_quotes(match[1]) if match else header
    meta, links, body = _read_fields(chunk, source, warnings)

    def need(key: str, label: str) -> tuple[int, str]:
        if not meta.get(key, (0, ""))[1]:
            raise ContentError(f"paper '{headline}' has no '{label}:' line", path=source,
                               line=meta.get(key, (header_line,))[0],
                               hint=f"add '{label}: ...' under the paper's title line")
        return meta[key]

    title = _strip_quotes(meta["title"][1]) if meta.get("title", (0, ""))[1] else headline
    authors_line, authors_text = need("authors", "Authors")
    authors, affiliations = _split_authors(authors_text)
    if not affiliations:
        warnings.append(Diagnostic("warning", source, authors_line,
                                   "no affiliations on the Authors line; 'affiliations' is empty",
                                   "add them to the paper file if known", "empty-field"))
    venue_line, venue_text = need("venue", "Venue")
    venue, presentation = _split_venue(venue_text)
    published_line, published_text = need("published", "Published")
    track = _track(venue, venue_tracks, source, venue_line, warnings)
    key_finding = _key_finding(body, title, source, header_line)
    if not links:
        warnings.append(Diagnostic("warning", source, header_line, "paper has no link",
                                   "add 'links:' to the paper file if known", "empty-field"))
    warnings += body.warnings
    try:
        return Paper(slug=_base_slug(title), title=title,
                     headline=headline if "title" in meta else None, authors=authors,
                     affiliations=affiliations, venue=venue, presentation=presentation,
                     published=_published(published_text, source, published_line), track=track,
                     links=links, takeaway=first_sentence(key_finding), sections=body.built(),
                     imported_from=f"{source.name}:{header_line}")
    except ValidationError as exc:
        where, message = field_problem(exc.errors()[0])
        raise ContentError(f"paper '{title}': {where}: {message}", path=source,
                           line=header_line) from exc


def _strip_quotes(text: str) -> str:
    text = text.strip()
    if len(text) > 1 and text[0] in _QUOTES and text[-1] in _QUOTES:
        return text[1:-1].strip()
    return text


def _split_authors(text: str) -> tuple[list[str], list[str]]:
    """'A, B (X, Y)' or 'A, B, X & Y' -> authors and affiliations; 'Chen, L.' stays one name."""
    match = re.fullmatch(r"(.*?)\s*\(([^()]*)\)", text)
    if match:
        names, institutions = match[1], [match[2]]
    else:
        segments = [segment.strip() for segment in text.split(",")]
        institutions = []
        while len(segments) > 1 and _INSTITUTION.search(segments[-1]):
            institutions.insert(0, segments.pop())
        names = ", ".join(segments)
    affiliations = [part.strip() for chunk in institutions
                    for part in _AFFILIATION_SPLIT.split(chunk) if part.strip()]
    authors: list[str] = []
    for part in (p.strip() for p in _AUTHOR_SPLIT.split(names)):
        if not part:
            continue
        if _INITIALS.match(part) and authors and not _INITIALS.match(authors[-1].split(", ")[-1]):
            authors[-1] = f"{authors[-1]}, {part}"  # "Chen, L." is one name
        else:
            authors.append(part)
    return authors, affiliations


def _split_venue(text: str) -> tuple[str, Presentation | None]:
    match = re.fullmatch(r"(.*?)\s*\((Oral|Spotlight|Poster)(?:\s+Presentation)?\)", text,
                         re.IGNORECASE)
    if not match:
        return text, None
    return match[1], Presentation(match[2].capitalize())


def _track(venue: str, venue_tracks: Mapping[str, str], source: Path, line: int,
           warnings: list[Diagnostic]) -> str:
    first = re.sub(r"\W+$", "", venue.split()[0]).casefold() if venue.split() else ""
    for name, track in venue_tracks.items():
        if name.casefold() == first:
            return track
    warnings.append(Diagnostic("warning", source, line,
                               f"venue '{venue}' has no track in [venue_tracks]; "
                               f"track set to '{UNSORTED}'",
                               "add it to [venue_tracks] in newsletter.toml or edit 'track:'",
                               "unknown-track"))
    return UNSORTED


def _published(text: str, source: Path, line: int) -> PartialDate:
    for fmt, has_day in (("%B %d, %Y", True), ("%B %Y", False), ("%Y-%m-%d", True),
                         ("%Y-%m", False)):
        try:
            date = dt.datetime.strptime(" ".join(text.split()), fmt).date()
        except ValueError:
            continue
        return PartialDate(date.year, date.month, date.day if has_day else None)
    raise ContentError(f"'{text}' is not a publication date", path=source, line=line,
                       hint="write it like 'November 2025' or 'October 28, 2025'")


def _add_link(links: dict[str, str], value: str, source: Path, line: int,
              warnings: list[Diagnostic]) -> None:
    match = re.match(r"(https?://[^\s/]+\.[^\s/]+\S*)\s*(.*)$", value)  # as models.Paper
    if not match:
        warnings.append(Diagnostic("warning", source, line, f"link '{value}' is not a URL; "
                                   "not kept", "add the URL to 'links:' if known", "bad-link"))
        return
    url, note = match[1], match[2]
    if note:
        warnings.append(Diagnostic("warning", source, line, f"link note '{note}' not kept",
                                   "the URL was kept; put the note in the text if it matters",
                                   "link-note"))
    if url in links.values():
        return
    name = "arXiv" if re.match(r"https?://(www\.)?arxiv\.org/", url) else "Paper"
    links[unique_name(name, set(links), sep=" ")] = url


def _slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) <= _MAX_SLUG:
        return slug
    words = slug[: _MAX_SLUG + 1].split("-")[:-1]  # cut at a word boundary
    while len(words) > 1 and words[-1] in _SMALL_TAIL:
        words.pop()  # "...-controllers-for" reads as a mistake
    return "-".join(words) or slug[:_MAX_SLUG].strip("-")


def _base_slug(title: str) -> str:
    """The short name before a ':' or ' - ' ('mixture-of-depths'), else the whole title."""
    head = re.split(r":|\s[-–—]\s", title, maxsplit=1)[0]
    return _slugify(head) or _slugify(title) or "paper"


def unique_name(name: str, taken: set[str], sep: str = "-") -> str:
    candidate, number = name, 2
    while candidate in taken:
        candidate, number = f"{name}{sep}{number}", number + 1
    return candidate


def _normalise(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.casefold())


