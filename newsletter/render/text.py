"""Markdown as the plaintext a person would write: wrapped at 72 columns, lists kept,
headings underlined, tables aligned, formulas as text, links numbered like footnotes."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from markdown_it.token import Token

from newsletter.render.latex import convert
from newsletter.render.lines import UNDERLINES, WIDTH, underline, wrap
from newsletter.render.notes import Notes
from newsletter.render.text_tables import Table, table_text

__all__ = ["UNDERLINES", "WIDTH", "LinkRefs", "inline_text", "notes_text", "tokens_to_text",
           "underline", "wrap"]


class LinkRefs:
    """Numbered link references for the plaintext part, shared across one email."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def number(self, url: str) -> int:
        if url not in self.urls:
            self.urls.append(url)
        return self.urls.index(url) + 1


def _math(child: Token) -> str:
    formula = convert(child.content)
    return formula.text if formula.faithful else f"${formula.text}$"


def _note(child: Token, notes: Notes | None) -> str:
    number = notes.number(child.meta["label"]) if notes else None
    return f"[^{number if number is not None else child.meta['label']}]"


def _image(child: Token, refs: LinkRefs) -> str:
    described = f"[image: {child.content or 'no description'}]"
    src = str(child.attrs.get("src", ""))
    return f"{described} [{refs.number(src)}]" if src else described


def inline_text(token: Token, refs: LinkRefs, notes: Notes | None = None) -> str:
    """The text of an inline token; each link and image gets its reference number after it,
    each footnote reference its note's number: 'faster[^1]'."""
    parts: list[str] = []
    pending_url: list[str] = []
    for child in token.children or []:
        kind = child.type
        if kind in ("text", "code_inline"):
            parts.append(child.content)
        elif kind in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif kind == "link_open":
            pending_url.append(str(child.attrs.get("href", "")))
        elif kind == "link_close" and pending_url:
            parts.append(f" [{refs.number(pending_url.pop())}]")
        elif kind == "image":
            parts.append(_image(child, refs))
        elif kind == "math_inline":
            parts.append(_math(child))
        elif kind == "footnote_ref":
            parts.append(_note(child, notes))
    return "".join(parts)


@dataclass
class _ListLevel:
    ordered: bool
    next_number: int


@dataclass
class _TextWriter:
    """Walks the block tokens once; each block is (text, number of its top-level list or 0)."""

    refs: LinkRefs
    heading_shift: int
    width: int
    notes: Notes | None = None
    blocks: list[tuple[str, int]] = field(default_factory=list)
    lists: list[_ListLevel] = field(default_factory=list)
    list_count: int = 0
    item_prefix: str | None = None
    quote: int = 0

    def token(self, tokens: list[Token], index: int) -> int:
        """Handle the token at `index`; the index of the next one to handle."""
        handler = self._HANDLERS.get(tokens[index].type)
        if handler is None:
            return index + 1
        return handler(self, tokens, index) or index + 1

    def _list_open(self, tokens: list[Token], index: int) -> None:
        token = tokens[index]
        self.list_count += 0 if self.lists else 1
        self.lists.append(_ListLevel(token.type == "ordered_list_open",
                                     int(token.attrs.get("start", 1))))

    def _list_close(self, _tokens: list[Token], _index: int) -> None:
        self.lists.pop()

    def _item(self, _tokens: list[Token], _index: int) -> None:
        level = self.lists[-1]
        self.item_prefix = f"{level.next_number}. " if level.ordered else "- "
        level.next_number += 1

    def _quote(self, tokens: list[Token], index: int) -> None:
        self.quote += 1 if tokens[index].type == "blockquote_open" else -1

    def _code(self, tokens: list[Token], index: int) -> None:
        self.blocks.append((textwrap.indent(tokens[index].content.rstrip("\n"), "    "), 0))

    def _math_block(self, tokens: list[Token], index: int) -> None:
        formula = convert(tokens[index].content)
        if formula.faithful:
            self.blocks.append((wrap(formula.text, "    ", width=self.width), 0))
        else:
            self.blocks.append((textwrap.indent(formula.text, "    "), 0))

    def _rule(self, _tokens: list[Token], _index: int) -> None:
        self.blocks.append(("* * *", 0))

    def _table(self, tokens: list[Token], index: int) -> int:
        table, after = Table.read(tokens, index,
                                  lambda cell: inline_text(cell, self.refs, self.notes))
        self.blocks.append((table_text(table, self._indent(), self.width),
                            self.list_count if self.lists else 0))
        return after

    def _indent(self) -> str:
        depth_indent = "  " * max(0, len(self.lists) - 1)
        return "> " * self.quote + (depth_indent + "  " if self.lists else "")

    def _inline(self, tokens: list[Token], index: int) -> None:
        token, opener = tokens[index], tokens[index - 1]
        text = inline_text(token, self.refs, self.notes)
        if opener.type == "heading_open":
            level = min(6, int(opener.tag[1]) + self.heading_shift)
            self.blocks.append((underline(text, level, self.width), 0))
            return
        if self.lists and self.item_prefix is not None:
            prefix = "> " * self.quote
            first = prefix + "  " * max(0, len(self.lists) - 1) + self.item_prefix
            block = wrap(text, first, prefix + " " * len(first), self.width)
            self.item_prefix = None
        else:
            block = wrap(text, self._indent(), width=self.width)
        self.blocks.append((block, self.list_count if self.lists else 0))

    _HANDLERS: ClassVar[dict[str, Callable[[_TextWriter, list[Token], int], int | None]]] = {
        "bullet_list_open": _list_open, "ordered_list_open": _list_open,
        "bullet_list_close": _list_close, "ordered_list_close": _list_close,
        "list_item_open": _item, "blockquote_open": _quote, "blockquote_close": _quote,
        "inline": _inline, "fence": _code, "code_block": _code, "math_block": _math_block,
        "hr": _rule, "table_open": _table,
    }

    def joined(self) -> str:
        """Items of one list on consecutive lines, a blank line between other blocks."""
        text = ""
        for position, (block, in_list) in enumerate(self.blocks):
            if position:
                same_list = in_list and self.blocks[position - 1][1] == in_list
                text += "\n" if same_list else "\n\n"
            text += block
        return text


def tokens_to_text(tokens: list[Token], refs: LinkRefs, heading_shift: int = 0,
                   width: int = WIDTH, notes: Notes | None = None) -> str:
    """Render parsed Markdown as plaintext: wrapped, lists kept, links numbered."""
    writer = _TextWriter(refs, heading_shift, width, notes)
    index = 0
    while index < len(tokens):
        index = writer.token(tokens, index)
    return writer.joined()


def notes_text(notes: Notes, refs: LinkRefs, width: int = WIDTH) -> str:
    """The notes under an underlined 'Notes': '[^1] text', continued lines indented."""
    if not notes.numbers:
        return ""
    items = []
    for number, tokens in notes.items():
        mark = f"[^{number}] "
        body = tokens_to_text(tokens, refs, 1, width - len(mark), notes)
        items.append(mark + textwrap.indent(body, " " * len(mark)).removeprefix(" " * len(mark)))
    return underline("Notes", 3, width) + "\n\n" + "\n".join(items)
