"""Markdown as the plaintext a person would write: wrapped at 72 columns, lists kept,
headings underlined, links numbered like footnotes."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

from markdown_it.token import Token

WIDTH = 72
UNDERLINES = {1: "=", 2: "=", 3: "-", 4: "~", 5: "~", 6: "~"}


class LinkRefs:
    """Numbered link references for the plaintext part, shared across one email."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def number(self, url: str) -> int:
        if url not in self.urls:
            self.urls.append(url)
        return self.urls.index(url) + 1


def wrap(text: str, indent: str = "", hanging: str | None = None, width: int = WIDTH) -> str:
    """Fill at `width` columns without breaking words or URLs.

    Greedy, like textwrap.fill(break_long_words=False, break_on_hyphens=False), at a
    quarter of its cost: this runs for every paragraph of every render.
    """
    hanging = indent if hanging is None else hanging
    lines: list[str] = []
    line = indent
    fresh = True
    for word in text.split():
        if fresh:
            line += word
            fresh = False
        elif len(line) + 1 + len(word) <= width:
            line += " " + word
        else:
            lines.append(line)
            line = hanging + word
    if not fresh:
        lines.append(line)
    return "\n".join(lines)


def underline(title: str, level: int, width: int = WIDTH) -> str:
    """A heading as wrapped text with a rule of '=', '-' or '~' under it."""
    lines = wrap(title, width=width).split("\n")
    return "\n".join(lines) + "\n" + UNDERLINES[level] * max(len(line) for line in lines)


def inline_text(token: Token, refs: LinkRefs) -> str:
    """The text of an inline token; each link gets its reference number after it."""
    parts: list[str] = []
    pending_url: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "link_open":
            pending_url.append(str(child.attrs.get("href", "")))
        elif child.type == "link_close" and pending_url:
            parts.append(f" [{refs.number(pending_url.pop())}]")
        elif child.type == "image":
            parts.append(f"[image: {child.content or 'no description'}]")
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
    blocks: list[tuple[str, int]] = field(default_factory=list)
    lists: list[_ListLevel] = field(default_factory=list)
    list_count: int = 0
    item_prefix: str | None = None
    quote: int = 0

    def token(self, tokens: list[Token], index: int) -> None:
        token = tokens[index]
        kind = token.type
        if kind in ("bullet_list_open", "ordered_list_open"):
            self.list_count += 0 if self.lists else 1
            self.lists.append(_ListLevel(kind == "ordered_list_open",
                                         int(token.attrs.get("start", 1))))
        elif kind in ("bullet_list_close", "ordered_list_close"):
            self.lists.pop()
        elif kind == "list_item_open":
            level = self.lists[-1]
            self.item_prefix = f"{level.next_number}. " if level.ordered else "- "
            level.next_number += 1
        elif kind in ("blockquote_open", "blockquote_close"):
            self.quote += 1 if kind == "blockquote_open" else -1
        elif kind == "inline":
            self.inline(token, tokens[index - 1])
        elif kind in ("fence", "code_block"):
            self.blocks.append((textwrap.indent(token.content.rstrip("\n"), "    "), 0))
        elif kind == "hr":
            self.blocks.append(("* * *", 0))

    def inline(self, token: Token, opener: Token) -> None:
        if opener.type == "heading_open":
            level = min(6, int(opener.tag[1]) + self.heading_shift)
            self.blocks.append((underline(inline_text(token, self.refs), level, self.width), 0))
            return
        text = inline_text(token, self.refs)
        prefix = "> " * self.quote
        depth_indent = "  " * max(0, len(self.lists) - 1)
        if self.lists and self.item_prefix is not None:
            first = prefix + depth_indent + self.item_prefix
            block = wrap(text, first, prefix + " " * len(first), self.width)
            self.item_prefix = None
        else:
            indent = prefix + (depth_indent + "  " if self.lists else "")
            block = wrap(text, indent, width=self.width)
        self.blocks.append((block, self.list_count if self.lists else 0))

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
                   width: int = WIDTH) -> str:
    """Render parsed Markdown as plaintext: wrapped, lists kept, links numbered."""
    writer = _TextWriter(refs, heading_shift, width)
    for index in range(len(tokens)):
        writer.token(tokens, index)
    return writer.joined()
