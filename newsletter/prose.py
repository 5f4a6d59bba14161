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


def _shift_headings(tokens: Sequence[Token], shift: int) -> None:
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(6, int(token.tag[1]) + shift)}"


def to_html(markdown: str, heading_shift: int = 0) -> Markup:
    """Render Markdown to safe HTML; '### For X' becomes <h4> with heading_shift=1."""
    tokens = _MD.parse(markdown)
    _shift_headings(tokens, heading_shift)
    return Markup(_MD.renderer.render(tokens, _MD.options, {}))


class LinkRefs:
    """Numbered link references for the plaintext part, shared across one email."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def number(self, url: str) -> int:
        if url not in self.urls:
            self.urls.append(url)
        return self.urls.index(url) + 1


def wrap(text: str, indent: str = "", hanging: str | None = None, width: int = WIDTH) -> str:
    """Fill at `width` columns without breaking words or URLs."""
    return textwrap.fill(" ".join(text.split()), width=width, initial_indent=indent,
                         subsequent_indent=indent if hanging is None else hanging,
                         break_long_words=False, break_on_hyphens=False)


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


def to_text(markdown: str, refs: LinkRefs, heading_shift: int = 0, width: int = WIDTH) -> str:
    """Render Markdown as plaintext a person would write: wrapped, lists kept, links numbered."""
    tokens = _MD.parse(markdown)
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
