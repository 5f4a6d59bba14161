"""Markdown for the email: to HTML (escaped, headings shifted) and to wrapped plaintext."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

from newsletter.render.text import WIDTH, LinkRefs, tokens_to_text

# Raw HTML in content is shown as text, never passed through: only Markdown becomes markup.
_MD = MarkdownIt("commonmark", {"html": False, "typographer": False})


def _heading_tag(_renderer: Any, tokens: Sequence[Token], idx: int, _options: Any,
                 env: dict[str, Any]) -> str:
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


def to_text(markdown: str, refs: LinkRefs, heading_shift: int = 0, width: int = WIDTH) -> str:
    """Render Markdown as plaintext a person would write: wrapped, lists kept, links numbered."""
    return tokens_to_text(_MD.parse(markdown), refs, heading_shift, width)


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
        return tokens_to_text(self._parse(markdown), self.refs, heading_shift)
