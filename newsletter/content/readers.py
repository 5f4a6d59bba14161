"""Readers: paper and issue files (YAML front matter + Markdown) into validated models."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from markdown_it import MarkdownIt
from pydantic import ValidationError

from newsletter.content.documents import Document, read_document
from newsletter.content.models import REQUIRED_PAPER_SECTIONS, Issue, Paper, Section
from newsletter.diagnostics import Diagnostic
from newsletter.errors import ContentError, field_problem

# Only the block structure is needed to find the '## ' headings: skipping the inline pass
# halves the cost of reading the content folder. Section text is parsed when it is rendered.
_MARKDOWN = MarkdownIt("commonmark").disable("inline")


@dataclass
class Content:
    """Everything under the content folder, loaded once."""

    papers: dict[str, Paper]
    issues: dict[dt.date, Issue]
    paper_paths: dict[str, Path]
    issue_paths: dict[dt.date, Path]
    warnings: list[Diagnostic] = field(default_factory=list)

    def papers_of(self, issue: Issue, papers_dir: Path) -> list[Paper]:
        """The issue's papers, in its order; an unknown slug is a ContentError."""
        missing = [slug for slug in issue.papers if slug not in self.papers]
        if missing:
            raise ContentError(f"issue names an unknown paper '{missing[0]}'",
                               path=self.issue_paths.get(issue.date),
                               hint=f"add {papers_dir / missing[0]}.md or fix the slug",
                               code="missing-paper")
        return [self.papers[slug] for slug in issue.papers]


def split_sections(body: str, body_line: int) -> tuple[str, list[Section]]:
    """Cut a Markdown body at its '## ' headings. Returns (text before the first, sections)."""
    lines = body.split("\n")
    starts = [(tok.map[0], tokens[i + 1].content.strip())
              for tokens in [_MARKDOWN.parse(body)]
              for i, tok in enumerate(tokens)
              if tok.type == "heading_open" and tok.tag == "h2" and tok.map]
    intro_end = starts[0][0] if starts else len(lines)
    intro = "\n".join(lines[:intro_end]).strip()
    sections = []
    for index, (start, title) in enumerate(starts):
        end = starts[index + 1][0] if index + 1 < len(starts) else len(lines)
        markdown = "\n".join(lines[start + 1 : end]).strip()
        sections.append(Section(title=title, markdown=markdown, line=body_line + start))
    return intro, sections


def _validation_error(exc: ValidationError, doc: Document, what: str) -> ContentError:
    err = exc.errors()[0]
    field_name = str(err["loc"][0]) if err["loc"] else ""
    dotted, message = field_problem(err)
    if err["type"] == "missing":
        return ContentError(f"{what}: missing field '{field_name}'", path=doc.path, line=1,
                            hint=f"add '{field_name}:' to the front matter")
    if err["type"] == "extra_forbidden":
        return ContentError(f"{what}: unknown field '{field_name}'", path=doc.path,
                            line=doc.line_of(field_name), hint="remove it or check its spelling")
    return ContentError(f"{what}: field '{dotted or what}': {message}", path=doc.path,
                        line=doc.line_of(field_name), code=f"field-{field_name}")


def unknown_track(doc: Document, tracks: Collection[str]) -> ContentError | None:
    """The error for a paper whose `track:` is not one of `tracks` (None if it is, or absent)."""
    track = doc.meta.get("track")
    if not isinstance(track, str) or track.strip() in tracks:
        return None
    name = track.strip()
    where = "'tracks' in newsletter.toml"
    hint = (f"use one of: {', '.join(tracks)}; or add '{name}' to {where}" if tracks
            else f"no tracks are configured: add '{name}' to {where}")
    return ContentError(f"unknown track '{name}'", path=doc.path, line=doc.line_of("track"),
                        hint=hint, code="unknown-track")


def parse_paper(doc: Document, tracks: Collection[str] | None = None) -> Paper:
    """Validate a paper document; its slug is its file name, its track one of `tracks`.

    Without `tracks` any track is accepted (`check` reports unknown ones as findings).
    """
    intro, sections = split_sections(doc.body, doc.body_line)
    if intro:
        offset = next(i for i, line in enumerate(doc.body.split("\n")) if line.strip())
        raise ContentError("text before the first '## ' section", path=doc.path,
                           line=doc.body_line + offset,
                           hint="put it under a '## Key Finding' heading")
    try:
        paper = Paper(slug=doc.path.stem, sections=sections, **doc.meta)
    except ValidationError as exc:
        raise _validation_error(exc, doc, "paper") from exc
    except TypeError as exc:  # a 'slug' or 'sections' key in the front matter
        raise ContentError(f"paper: {exc}", path=doc.path, line=1) from exc
    for title in REQUIRED_PAPER_SECTIONS:
        if paper.section(title) is None:
            raise ContentError(f"paper has no '## {title}' section", path=doc.path,
                               hint=f"add a '## {title}' heading with its text",
                               code="required-section")
    if tracks is not None and (error := unknown_track(doc, tracks)):
        raise error
    return paper


def parse_issue(doc: Document) -> Issue:
    """Validate an issue document; its file name must be its date."""
    intro, sections = split_sections(doc.body, doc.body_line)
    try:
        issue = Issue(intro=intro, sections=sections, **doc.meta)
    except ValidationError as exc:
        raise _validation_error(exc, doc, "issue") from exc
    if doc.path.stem != issue.date.isoformat():
        raise ContentError(f"file name does not match its date {issue.date.isoformat()}",
                           path=doc.path, line=doc.line_of("date"),
                           hint=f"rename it to {issue.date.isoformat()}.md or fix 'date:'")
    return issue


def section_warnings(sections: list[Section], path: Path) -> list[Diagnostic]:
    """Headings with nothing under them: kept, but worth a warning."""
    return [Diagnostic("warning", path, s.line, f"section '{s.title}' is empty",
                       "write it or remove the heading", code="empty-section")
            for s in sections if s.is_empty]


def require_content_folder(content_dir: Path) -> None:
    """A ContentError unless `content_dir` is a folder with a papers/ folder in it."""
    setting = "set content_dir in newsletter.toml to the folder that holds papers/ and issues/"
    if not content_dir.is_dir():
        problem = "is a file, not the content folder" if content_dir.exists() else \
            "content folder not found"
        raise ContentError(problem, path=content_dir, hint=setting)
    if not (content_dir / "papers").is_dir():
        raise ContentError("content folder has no papers/ folder", path=content_dir,
                           hint=f"add papers/<slug>.md files to it, or {setting}")


def load_content(content_dir: Path, *, tracks: Collection[str] | None = None) -> Content:
    """Read every paper and issue; the first invalid file stops with its error.

    A paper whose track is not one of `tracks` is invalid (pass config.tracks; None accepts
    any track). A missing content folder, or one without papers/, is a ContentError too.
    """
    require_content_folder(content_dir)
    papers, paper_paths, warnings = {}, {}, []
    for path in sorted((content_dir / "papers").glob("*.md")):
        paper = parse_paper(read_document(path), tracks)
        papers[paper.slug], paper_paths[paper.slug] = paper, path
        warnings += section_warnings(paper.sections, path)
    issues, issue_paths = {}, {}
    for path in sorted((content_dir / "issues").glob("*.md")):
        doc = read_document(path)
        issue = parse_issue(doc)
        for slug in issue.papers:
            if slug not in papers:
                line = doc.line_of("papers")
                raise ContentError(f"issue names an unknown paper '{slug}'", path=path, line=line,
                                   hint=f"add {content_dir / 'papers' / slug}.md or fix the slug")
        issues[issue.date], issue_paths[issue.date] = issue, path
        warnings += section_warnings(issue.sections, path)
    return Content(papers, issues, paper_paths, issue_paths, warnings)
