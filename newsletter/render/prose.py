"""Markdown for the email: to HTML (escaped, headings shifted) and to wrapped plaintext."""

from __future__ import annotations

from pathlib import Path

from markdown_it.token import Token
from markupsafe import Markup

from newsletter.content.models import Paper
from newsletter.render.figures import Figures
from newsletter.render.html_render import notes_html, render_html
from newsletter.render.markdown import Parsed, parse
from newsletter.render.notes import NoteCounter, Notes
from newsletter.render.text import WIDTH, LinkRefs, notes_text, tokens_to_text


def to_html(markdown: str, heading_shift: int = 0, tokens: list[Token] | None = None) -> Markup:
    """Render Markdown to safe HTML; '### For X' becomes <h4> with heading_shift=1."""
    tokens = tokens if tokens is not None else parse(markdown).tokens
    return Markup(render_html(tokens, heading_shift))


def to_text(markdown: str, refs: LinkRefs, heading_shift: int = 0, width: int = WIDTH) -> str:
    """Render Markdown as plaintext a person would write: wrapped, lists kept, links numbered."""
    return tokens_to_text(parse(markdown).tokens, refs, heading_shift, width)


class Prose:
    """Markdown for one rendering: each text parsed once for both parts, links and notes
    numbered across the email, local figures resolved and remembered.

    `papers_dir` and `issue_file` are where a paper's and the issue's own figures are found
    (next to the file); `figures` publishes them (None: images are left as written).
    """

    def __init__(self, figures: Figures | None = None, papers_dir: Path | None = None,
                 issue_file: Path | None = None) -> None:
        self.refs = LinkRefs()
        self.figures = figures
        self._papers_dir = papers_dir or Path()
        self._issue_file = issue_file or Path("issue.md")
        self._parsed: dict[tuple[str, Path], Parsed] = {}
        self._notes: dict[object, Notes] = {}
        self._counter = NoteCounter()

    def _source(self, paper: Paper | None) -> Path:
        return self._issue_file if paper is None else self._papers_dir / f"{paper.slug}.md"

    def _parse(self, markdown: str, source: Path) -> Parsed:
        key = (markdown, source)
        if key not in self._parsed:
            figures = self.figures
            self._parsed[key] = parse(markdown, None if figures is None else
                                      lambda src: figures.resolve(src, source))
        return self._parsed[key]

    def notes_of(self, paper: Paper) -> Notes:
        """The paper's notes, from all its sections, numbered on first use."""
        if paper.slug not in self._notes:
            source = self._source(paper)
            texts = [self._parse(section.markdown, source) for section in paper.sections]
            self._notes[paper.slug] = self._counter.notes(texts)
        return self._notes[paper.slug]

    def _scope(self, markdown: str, paper: Paper | None) -> tuple[Parsed, Notes, bool]:
        """The parsed text, whose notes it uses, and whether they are listed right after it."""
        parsed = self._parse(markdown, self._source(paper))
        if paper is not None:
            return parsed, self.notes_of(paper), False
        key = ("text", markdown)
        if key not in self._notes:
            self._notes[key] = self._counter.notes([parsed])
        return parsed, self._notes[key], True

    def html(self, markdown: str, heading_shift: int = 0, paper: Paper | None = None) -> Markup:
        """A paper's section (its notes are listed by `notes_html`), or any other text (with
        its notes right after it) as HTML."""
        parsed, notes, own = self._scope(markdown, paper)
        html = render_html(parsed.tokens, heading_shift, notes)
        return Markup(html + notes_html(notes) if own else html)

    def text(self, markdown: str, heading_shift: int = 0, paper: Paper | None = None) -> str:
        """The same as plaintext."""
        parsed, notes, own = self._scope(markdown, paper)
        text = tokens_to_text(parsed.tokens, self.refs, heading_shift, notes=notes)
        listed = notes_text(notes, self.refs) if own else ""
        return f"{text}\n\n{listed}" if listed else text

    def notes_html(self, paper: Paper) -> Markup:
        """The paper's numbered notes, for the end of its section of the email."""
        return Markup(notes_html(self.notes_of(paper)))

    def notes_text(self, paper: Paper) -> str:
        """The same as plaintext: '[^1] ...' lines under an underlined 'Notes'."""
        return notes_text(self.notes_of(paper), self.refs)
