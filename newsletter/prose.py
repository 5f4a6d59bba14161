"""Markdown for the email: to HTML (escaped, headings shifted) and to wrapped plaintext."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

WIDTH = 72
UNDERLINES = {1: "=", 2: "=", 3: "-", 4: "~", 5: "~", 6: "~"}

# Raw HTML in content is shown as text, never passed through: only Markdown becomes markup.
_MD = MarkdownIt("commonmark", {"html": False, "typographer": False})


def _heading_tag(_renderer, tokens: Sequence[Token], idx: int, _options, env: dict) -> str:
    token = tokens[idx]
    level = min(6, int(token.tag[1]) + env.get("shift", 0))
    return f"<h{level}>" if token.nesting == 1 else f"</h{level}>\n"


_MD.add_render_rule("heading_open", _heading_tag)
_MD.add_render_rule("heading_close", _heading_tag)


def parse(markdown: str) -> list[Token]:
    return _MD.parse(markdown)


def to_html(markdown: str, heading_shift: int = 0, tokens: list[Token] | None = None) -> Markup:
    """Render Markdown to safe HTML; '### For X' becomes <h4> with heading_shift=1."""
    tokens = tokens if tokens is not None else _MD.parse(markdown)
    return Markup(_MD.renderer.render(tokens, _MD.options, {"shift": heading_shift}))


class Prose:
    """Markdown for one rendering: each text parsed once for both parts, links numbered."""

    def __init__(self) -> None:
        self.refs = LinkRefs()
        self._tokens: dict[str, list[Token]] = {}

    def _parse(self, markdown: str) -> list[Token]:
        if markdown not in self._tokens:
            self._tokens[markdown] = _MD.parse(markdown)
        return self._tokens[markdown]

    def html(self, markdown: str, heading_shift: int = 0) -> Markup:
        return to_html(markdown, heading_shift, self._parse(markdown))

    def text(self, markdown: str, heading_shift: int = 0) -> str:
        return to_text(markdown, self.refs, heading_shift, tokens=self._parse(markdown))


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


def _inline_text(token: Token, refs: LinkRefs) -> str:
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


def to_text(markdown: str, refs: LinkRefs, heading_shift: int = 0, width: int = WIDTH,
            tokens: list[Token] | None = None) -> str:
    """Render Markdown as plaintext a person would write: wrapped, lists kept, links numbered."""
    tokens = tokens if tokens is not None else _MD.parse(markdown)
    blocks: list[tuple[str, int]] = []  # (text, number of its top-level list or 0)
    lists: list[list] = []  # stack of [ordered, next number]
    list_count = 0
    item_prefix: str | None = None
    quote = 0
    for index, token in enumerate(tokens):
        depth_indent = "  " * max(0, len(lists) - 1)
        if token.type in ("bullet_list_open", "ordered_list_open"):
            list_count += 0 if lists else 1
            lists.append([token.type == "ordered_list_open", int(token.attrs.get("start", 1))])
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
        elif token.type == "list_item_open":
            ordered, number = lists[-1]
            item_prefix = f"{number}. " if ordered else "- "
            lists[-1][1] += 1
        elif token.type == "blockquote_open":
            quote += 1
        elif token.type == "blockquote_close":
            quote -= 1
        elif token.type == "inline" and tokens[index - 1].type == "heading_open":
            level = min(6, int(tokens[index - 1].tag[1]) + heading_shift)
            blocks.append((underline(_inline_text(token, refs), level, width), 0))
        elif token.type == "inline":
            text = _inline_text(token, refs)
            prefix = "> " * quote
            if lists and item_prefix is not None:
                first = prefix + depth_indent + item_prefix
                block = wrap(text, first, prefix + " " * len(first), width)
                item_prefix = None
            else:
                indent = prefix + (depth_indent + "  " if lists else "")
                block = wrap(text, indent, width=width)
            blocks.append((block, list_count if lists else 0))
        elif token.type in ("fence", "code_block"):
            blocks.append((textwrap.indent(token.content.rstrip("\n"), "    "), 0))
        elif token.type == "hr":
            blocks.append(("* * *", 0))
    text = ""
    for position, (block, in_list) in enumerate(blocks):
        if position:
            text += "\n" if in_list and blocks[position - 1][1] == in_list else "\n\n"
        text += block
    return text
