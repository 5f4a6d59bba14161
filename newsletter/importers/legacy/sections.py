"""Body text of legacy issues to Markdown sections: headings, audiences, lists, warnings."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from newsletter.content.models import Section
from newsletter.diagnostics import Diagnostic

WHY_IT_MATTERS = "Why It Matters"
SMALL_WORDS = frozenset({"a", "an", "the", "and", "or", "of", "with", "in", "for", "to", "on",
                         "at", "by", "vs", "&"})
_CANONICAL = {"key findings": "Key Finding", "why it matters": WHY_IT_MATTERS}
_ISSUE_HEADING = re.compile(r"^(bottom line|additional (context|reading)|synthesis\b|"
                            r"emerging trends|what these papers|conclusion|summary|"
                            r"further reading)", re.IGNORECASE)
_BULLET = re.compile(r"^[-•*]\s+(\S.*)$")
_LABEL = re.compile(r"^([^\s:,.;!?][^:,.;!?]*):\s+(\S.*)$")
_AUDIENCE = re.compile(r"^((?:For|Practical (?:implications|applications) for)\s[^.,:;]+):$")
_INLINE_AUDIENCE = re.compile(r"^(For\s[^.,:;]+):\s+(\S.*)$")
_MAX_AUDIENCE_LABEL = 6  # words in a "Short Label: text" line under an audience
_MAX_PARAGRAPH_LABEL = 4  # words in a "Critical insight: text" paragraph elsewhere
_ABBREVIATIONS = ("e.g.", "i.e.", "al.", "vs.", "etc.", "Dr.", "Fig.", "approx.", "cf.")


def is_heading(text: str) -> bool:
    """A short line naming a section: 'Key Finding', 'Why It Matters:', 'Results:'."""
    if _BULLET.match(text) or text.endswith(".") or ". " in text:
        return False
    words = text.removesuffix(":").split()
    if not words or len(words) > 6:
        return False
    if text.endswith(":") and len(words) <= 3:
        return True
    return all(_title_word(word) for word in words)


def is_issue_heading(text: str) -> bool:
    """A heading after the papers ('Bottom Line', 'Additional Context'...): it ends a paper."""
    return (bool(_ISSUE_HEADING.match(text)) and len(text.split()) <= 8
            and not text.endswith("."))


def canonical_title(text: str) -> str:
    """'Key Findings:' -> 'Key Finding'; 'Practical applications:' -> 'Practical Applications'."""
    title = text.strip().removesuffix(":").strip()
    if title.casefold() in _CANONICAL:
        return _CANONICAL[title.casefold()]
    words = title.split(" ")
    return " ".join(w if (i and w.casefold() in SMALL_WORDS) else w[:1].upper() + w[1:]
                    for i, w in enumerate(words))


def _title_word(word: str) -> bool:
    word = word.lstrip("“”\"‘’'(")
    if not word or word.casefold().rstrip(":") in SMALL_WORDS:
        return True
    return not word[0].isalpha() or word[0].isupper()


def _label(text: str, max_words: int) -> tuple[str, str] | None:
    match = _LABEL.match(text)
    if match and len(match[1].split()) <= max_words:
        return match[1], match[2]
    return None


def escape_markdown(text: str) -> str:
    """Escape what Markdown would read as markup, so the text renders as written."""
    text = re.sub(r"([\\`*\[\]<])", r"\\\1", text)
    text = re.sub(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])", r"\\_", text)
    text = re.sub(r"&(?=#?\w+;)", r"\\&", text)
    text = text.replace("~~", r"\~\~")
    # A line start that would open a heading, quote, list, rule or code fence.
    if re.match(r"[#>+\-=~]", text):
        return "\\" + text
    return re.sub(r"^(\d{1,9})([.)])(?=\s|$)", r"\1\\\2", text)


def _bold_label(label: str, rest: str) -> str:
    return f"**{escape_markdown(label)}:** {escape_markdown(rest)}"


@dataclass
class _Block:
    kind: str  # "p", "li" or "h3"
    markdown: str
    text: str  # the source line as written
    line: int


@dataclass
class _Section:
    title: str
    line: int
    blocks: list[_Block] = field(default_factory=list)
    closed: bool = False


class SectionBuilder:
    """Collects body lines into '## ' sections and notes what is empty or missing.

    Papers get audience subsections under 'Why It Matters'; at issue level
    (`issue_level=True`) headings other than the issue ones become '### ' labels.
    """

    def __init__(self, source: Path, *, issue_level: bool = False) -> None:
        self.source = source
        self.issue_level = issue_level
        self.intro: list[_Block] = []
        self.sections: list[_Section] = []
        self.warnings: list[Diagnostic] = []
        self._lead_in: _Block | None = None
        self._h3: tuple[_Block, int] | None = None  # subsection and block count at its start
        self._audience = False

    def heading(self, text: str, line: int) -> None:
        """Start a '## ' section."""
        self._close_section()
        self.sections.append(_Section(canonical_title(text), line))
        self._audience = False

    def add(self, text: str, line: int) -> None:
        """Classify one non-empty body line and append it as Markdown."""
        bullet = _BULLET.match(text)
        if bullet:
            label = _label(bullet[1], _MAX_AUDIENCE_LABEL)
            item = _bold_label(*label) if label else escape_markdown(bullet[1])
            return self._append("li", f"- {item}", text, line)
        current = self.sections[-1] if self.sections else None
        if current and current.title == WHY_IT_MATTERS and not self.issue_level:
            if audience := _AUDIENCE.match(text):
                self._audience = True
                return self._append("h3", f"### {audience[1]}", text, line)
            if inline := _INLINE_AUDIENCE.match(text):
                self._audience = True
                self._append("h3", f"### {inline[1]}", text, line)
                return self._append("p", escape_markdown(inline[2]), inline[2], line)
        if is_heading(text):
            if self.issue_level:
                return self._append("h3", f"### {canonical_title(text)}", text, line)
            return self.heading(text, line)
        if self._audience and (label := _label(text, _MAX_AUDIENCE_LABEL)):
            return self._append("li", f"- {_bold_label(*label)}", text, line)
        label = _label(text, _MAX_PARAGRAPH_LABEL)
        markdown = _bold_label(*label) if label else escape_markdown(text)
        self._append("p", markdown, text, line)
        if text.endswith(":"):
            self._lead_in = self._blocks()[-1]

    def finish(self) -> None:
        """Close the open section: warn if it, a subsection or a list is missing."""
        self._close_section()

    def built(self) -> list[Section]:
        """The '## ' sections (line = the heading's line in the legacy file)."""
        return [Section(title=s.title, markdown=render_blocks(s.blocks), line=s.line)
                for s in self.sections]

    def first_text(self, title: str) -> tuple[str, int] | None:
        """The first line of text under a section, as written: where a takeaway comes from."""
        section = next((s for s in self.sections if s.title == title), None)
        block = next((b for b in section.blocks if b.kind != "h3"), None) if section else None
        return (block.text, block.line) if block else None

    def _blocks(self) -> list[_Block]:
        return self.sections[-1].blocks if self.sections else self.intro

    def _append(self, kind: str, markdown: str, text: str, line: int) -> None:
        if kind != "li":
            self._close_lead_in()
        else:
            self._lead_in = None
        if kind == "h3":
            self._close_h3()
        blocks = self._blocks()
        blocks.append(_Block(kind, markdown, text, line))
        if kind == "h3":
            self._h3 = (blocks[-1], len(blocks))

    def _close_lead_in(self) -> None:
        if self._lead_in is not None:
            block, self._lead_in = self._lead_in, None
            self._warn(block.line, f"lead-in '{_tail(block.text)}' has no list after it",
                       "the legacy text lost the list: add its items, or end the sentence "
                       "with a period", "missing-list")

    def _close_h3(self) -> None:
        if self._h3 is not None:
            (block, count), self._h3 = self._h3, None
            if len(self._blocks()) == count:
                self._warn(block.line, f"subsection '{block.markdown[4:]}' is empty",
                           "the legacy text has nothing under it: write it or remove it",
                           "empty-section")

    def _close_section(self) -> None:
        self._close_lead_in()
        self._close_h3()
        if self.sections and not self.sections[-1].closed:
            section = self.sections[-1]
            section.closed = True
            if not section.blocks:
                self._warn(section.line, f"section '{section.title}' is empty",
                           "the legacy text has nothing under it: write it or remove it",
                           "empty-section")

    def _warn(self, line: int, message: str, hint: str, code: str) -> None:
        self.warnings.append(Diagnostic("warning", self.source, line, message, hint, code))


def render_blocks(blocks: list[_Block]) -> str:
    """Blocks as Markdown: list items on consecutive lines, a blank line between others."""
    out: list[str] = []
    for index, block in enumerate(blocks):
        if index:
            tight = block.kind == "li" and blocks[index - 1].kind == "li"
            out.append("\n" if tight else "\n\n")
        out.append(block.markdown)
    return "".join(out)


def _tail(text: str) -> str:
    """The end of a long lead-in, enough to find it: '…state space models (SSMs) that achieves:'."""
    sentence = re.split(r"(?<=[.!?])\s+", text)[-1]
    words = sentence.split()
    return sentence if len(words) <= 10 else "…" + " ".join(words[-7:])


def first_sentence(text: str) -> str:
    """The first sentence of a paragraph, as written: a takeaway is extracted, not invented."""
    for match in re.finditer(r"[.!?][”\"’')]*\s+(?=[A-Z0-9“\"(])", text):
        before = text[: match.start() + 1]
        if not before.endswith(_ABBREVIATIONS) and not re.search(r"\b[A-Z]\.$", before):
            return text[: match.end()].strip()
    return text.strip()
