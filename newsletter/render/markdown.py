"""The one Markdown reading of content: CommonMark, GFM tables, footnotes and $math$.

Raw HTML in content is shown as text, never passed through: only Markdown becomes markup.
Each text is parsed once per rendering and prepared for both parts: footnote definitions
lifted out (they are listed at the end of the paper), a `Table: ...` paragraph beside a table
made its caption, header cells given their scope, and local figures resolved to their
published address and width.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.footnote import footnote_plugin

from newsletter.render.figures import Figure, is_local_figure

CAPTION_PREFIX = "Table: "

MD = (MarkdownIt("commonmark", {"html": False, "typographer": False})
      .enable("table")
      # Definitions stay where they are written (a paper's notes are gathered from all its
      # sections), and a reference matches even when its definition is in another section.
      .use(footnote_plugin, inline=False, move_to_end=False, always_match_refs=True)
      # "$5 and $10" stays money: no digit right after the opening or before the closing $.
      .use(dollarmath_plugin, allow_labels=False, allow_space=False, allow_digits=False))


@dataclass
class Parsed:
    """One Markdown text, ready to render: its blocks and its footnote definitions."""

    tokens: list[Token]
    definitions: dict[str, list[Token]] = field(default_factory=dict)

    def note_labels(self) -> list[str]:
        """The footnote labels referred to, in reading order (each once)."""
        return list(dict.fromkeys(footnote_labels(self.tokens)))


def footnote_labels(tokens: list[Token]) -> list[str]:
    """The label of every footnote reference in `tokens`, in order (repeats included)."""
    return [child.meta["label"] for token in tokens for child in token.children or []
            if child.type == "footnote_ref"]


def _lift_definitions(tokens: list[Token]) -> tuple[list[Token], dict[str, list[Token]]]:
    body: list[Token] = []
    definitions: dict[str, list[Token]] = {}
    current: list[Token] | None = None
    for token in tokens:
        if token.type == "footnote_reference_open":
            current = definitions.setdefault(token.meta["label"], [])
        elif token.type == "footnote_reference_close":
            current = None
        else:
            (body if current is None else current).append(token)
    return body, definitions


def _caption_text(tokens: list[Token], start: int) -> Token | None:
    """The inline token of a `Table: ...` paragraph opening at `start`, if there is one."""
    if start < 0 or start + 2 >= len(tokens) or tokens[start].type != "paragraph_open" \
            or tokens[start + 2].type != "paragraph_close":
        return None
    inline = tokens[start + 1]
    return inline if inline.content.startswith(CAPTION_PREFIX) else None


def _attach_captions(tokens: list[Token]) -> list[Token]:
    """A `Table: ...` paragraph right after (or else right before) a table becomes its caption."""
    dropped: set[int] = set()
    opening = 0
    for index, token in enumerate(tokens):
        if token.type == "table_open":
            opening = index
        elif token.type == "table_close":
            for start in (index + 1, opening - 3):
                caption = _caption_text(tokens, start)
                if caption is not None and start not in dropped:
                    _strip_prefix(caption)
                    tokens[opening].meta["caption"] = caption
                    dropped.update((start, start + 1, start + 2))
                    break
    return [token for index, token in enumerate(tokens) if index not in dropped]


def _strip_prefix(inline: Token) -> None:
    first = inline.children[0] if inline.children else None
    if first is not None and first.type == "text":
        first.content = first.content.removeprefix(CAPTION_PREFIX)
    inline.content = inline.content.removeprefix(CAPTION_PREFIX)


FigureResolver = Callable[[str], Figure]


def _prepare_inline(token: Token, figure: FigureResolver | None) -> None:
    children = token.children or []
    for child in children:
        if child.type != "image":
            continue
        src = str(child.attrs.get("src", ""))
        if figure is not None and is_local_figure(src):
            found = figure(src)
            child.attrs["src"] = found.url
            child.attrs["width"] = str(found.width)
        # Scaled down on a phone, never wider than the column; alone in its paragraph, a
        # block (no gap under it, as an inline image gets in most clients).
        alone = "display:block;" if len(children) == 1 else ""
        child.attrs["style"] = f"{alone}max-width:100%;height:auto;border:0;"


def parse(markdown: str, figure: FigureResolver | None = None) -> Parsed:
    """Parse and prepare one Markdown text; `figure` resolves the local images' names."""
    body, definitions = _lift_definitions(MD.parse(markdown))
    body = _attach_captions(body)
    for token in [*body, *(t for tokens in definitions.values() for t in tokens)]:
        if token.type == "th_open":
            token.attrs["scope"] = "col"
        elif token.type == "inline":
            _prepare_inline(token, figure)
    return Parsed(body, definitions)
