"""Readers: paper and issue files (YAML front matter + Markdown) into validated models."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import frontmatter
import yaml
from markdown_it import MarkdownIt
from pydantic import ValidationError

from .diagnostics import Diagnostic
from .errors import ContentError
from .models import REQUIRED_PAPER_SECTIONS, Issue, Paper, Section

# Only the block structure is needed to find the '## ' headings: skipping the inline pass
# halves the cost of reading the content folder. Section text is parsed when it is rendered.
_MARKDOWN = MarkdownIt("commonmark").disable("inline")
_YAML = frontmatter.YAMLHandler()


# libyaml when PyYAML was built with it: ten times faster than the pure-Python parser.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class Document:
    """A file split by a reader: metadata, Markdown body, and where things are."""

    path: Path
    meta: dict[str, Any]
    body: str
    body_line: int  # 1-based line number of the first body line
    raw_meta: str = ""

    @cached_property
    def key_lines(self) -> dict[str, int]:
        """Front matter key -> file line; worked out only when an error needs it."""
        node = yaml.compose(self.raw_meta, Loader=_LOADER)
        if not isinstance(node, yaml.MappingNode):
            return {}
        return {key.value: key.start_mark.line + 1 for key, _ in node.value}


@dataclass
class Content:
    """Everything under the content folder, loaded once."""

    papers: dict[str, Paper]
    issues: dict[dt.date, Issue]
    paper_paths: dict[str, Path]
    issue_paths: dict[dt.date, Path]
    warnings: list[Diagnostic] = field(default_factory=list)


def read_document(path: Path) -> Document:
    """Split a file into front matter and body; YAML errors name their line."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ContentError("is not UTF-8 text", path=path, hint="save it as UTF-8") from exc
    except OSError as exc:
        raise ContentError(f"cannot be read: {exc.strerror}", path=path) from exc
    if not _YAML.detect(text):
        raise ContentError("has no front matter", path=path, line=1,
                           hint="start the file with a '---' line, the YAML fields, and '---'")
    raw_meta, body = _YAML.split(text)
    body_line = text[: len(text) - len(body)].count("\n") + 1
    try:
        meta = yaml.load(raw_meta, Loader=_LOADER) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ContentError(f"front matter: {problem}", path=path, line=line,
                           hint="fix the YAML between the '---' lines") from exc
    if not isinstance(meta, dict):
        raise ContentError("front matter must be 'key: value' lines", path=path, line=2)
    return Document(path, meta, body, body_line, raw_meta)


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
    loc = err["loc"]
    field_name = str(loc[0]) if loc else ""
    dotted = ".".join(str(part) for part in loc) or what
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "missing":
        return ContentError(f"{what}: missing field '{field_name}'", path=doc.path, line=1,
                            hint=f"add '{field_name}:' to the front matter")
    if err["type"] == "extra_forbidden":
        return ContentError(f"{what}: unknown field '{field_name}'", path=doc.path,
                            line=doc.key_lines.get(field_name),
                            hint="remove it or check its spelling")
    return ContentError(f"{what}: field '{dotted}': {message}", path=doc.path,
                        line=doc.key_lines.get(field_name))


def parse_paper(doc: Document) -> Paper:
    """Validate a paper document; its slug is its file name."""
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
                               hint=f"add a '## {title}' heading with its text")
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
                           path=doc.path, line=doc.key_lines.get("date"),
                           hint=f"rename it to {issue.date.isoformat()}.md or fix 'date:'")
    return issue


def section_warnings(sections: list[Section], path: Path) -> list[Diagnostic]:
    """Headings with nothing under them: kept, but worth a warning."""
    return [Diagnostic("warning", path, s.line, f"section '{s.title}' is empty",
                       "write it or remove the heading", code="empty-section")
            for s in sections if s.is_empty]


def load_content(content_dir: Path) -> Content:
    """Read every paper and issue; the first invalid file stops with its error."""
    papers, paper_paths, warnings = {}, {}, []
    for path in sorted((content_dir / "papers").glob("*.md")):
        paper = parse_paper(read_document(path))
        papers[paper.slug], paper_paths[paper.slug] = paper, path
        warnings += section_warnings(paper.sections, path)
    issues, issue_paths = {}, {}
    for path in sorted((content_dir / "issues").glob("*.md")):
        doc = read_document(path)
        issue = parse_issue(doc)
        for slug in issue.papers:
            if slug not in papers:
                line = doc.key_lines.get("papers")
                raise ContentError(f"issue names an unknown paper '{slug}'", path=path, line=line,
                                   hint=f"add {content_dir / 'papers' / slug}.md or fix the slug")
        issues[issue.date], issue_paths[issue.date] = issue, path
        warnings += section_warnings(issue.sections, path)
    return Content(papers, issues, paper_paths, issue_paths, warnings)


def _front_matter(data: dict[str, Any]) -> str:
    dumped = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    return f"---\n{dumped}---\n"


def _sections_markdown(sections: list[Section]) -> str:
    return "\n".join(f"## {s.title}\n\n{s.markdown}\n" if s.markdown else f"## {s.title}\n"
                     for s in sections)


def paper_to_markdown(paper: Paper) -> str:
    """The file form of a paper (what the importer and editors write)."""
    meta = paper.model_dump(mode="json", exclude={"slug", "sections"}, exclude_none=True,
                            exclude_defaults=True)
    meta["published"] = paper.published.iso()
    order = ["title", "headline", "authors", "affiliations", "venue", "presentation",
             "published", "track", "links", "takeaway", "tags", "imported_from"]
    meta = {key: meta[key] for key in order if key in meta}
    return f"{_front_matter(meta)}\n{_sections_markdown(paper.sections)}"


def issue_to_markdown(issue: Issue) -> str:
    """The file form of an issue."""
    meta = issue.model_dump(mode="json", exclude={"sections", "intro"}, exclude_none=True)
    order = ["date", "subject", "status", "papers_heading", "papers", "imported_from"]
    meta = {key: meta[key] for key in order if key in meta}
    body = (f"{issue.intro}\n\n" if issue.intro else "") + _sections_markdown(issue.sections)
    return f"{_front_matter(meta)}\n{body}"


def write_text_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; content files are not
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
