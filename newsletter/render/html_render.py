"""Markdown tokens as the email's HTML: headings shifted, tables that scroll on a phone,
formulas as text, footnote references and the notes list.

Everything here is plain HTML with classes: the template's styles are inlined after MJML, so
no markup depends on a <style> block that a mail client may drop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markdown_it.token import Token
from markupsafe import escape

from newsletter.render.latex import convert
from newsletter.render.markdown import MD
from newsletter.render.notes import Notes


def _heading_tag(_renderer: Any, tokens: Sequence[Token], idx: int, _options: Any,
                 env: dict[str, Any]) -> str:
    token = tokens[idx]
    level = min(6, int(token.tag[1]) + env.get("shift", 0))
    return f"<h{level}>" if token.nesting == 1 else f"</h{level}>\n"


# A wide table scrolls sideways inside its frame instead of widening the email on a phone:
# the fixed-layout frame keeps the table's width out of the width of MJML's layout cells.
_TABLE_FRAME = ('<table role="presentation" class="nl-table-frame" width="100%" border="0" '
                'cellpadding="0" cellspacing="0"><tr><td><div class="nl-table"><table>\n')


def _table_open(renderer: Any, tokens: Sequence[Token], idx: int, options: Any,
                env: dict[str, Any]) -> str:
    html = _TABLE_FRAME
    caption = tokens[idx].meta.get("caption")
    if caption is not None:
        html += f"<caption>{renderer.renderInline(caption.children, options, env)}</caption>\n"
    return html


def _table_close(*_args: Any) -> str:
    return "</table></div></td></tr></table>\n"


def _math_inline(_renderer: Any, tokens: Sequence[Token], idx: int, *_args: Any) -> str:
    formula = convert(tokens[idx].content)
    if formula.faithful:
        return f'<span class="nl-math">{escape(formula.text)}</span>'
    return f'<code class="nl-math-source">{escape(formula.text)}</code>'


def _math_block(_renderer: Any, tokens: Sequence[Token], idx: int, *_args: Any) -> str:
    formula = convert(tokens[idx].content)
    if formula.faithful:
        return f'<p class="nl-math">{escape(formula.text)}</p>\n'
    return f'<pre class="nl-math-source"><code>{escape(formula.text)}</code></pre>\n'


def _footnote_ref(_renderer: Any, tokens: Sequence[Token], idx: int, _options: Any,
                  env: dict[str, Any]) -> str:
    label = tokens[idx].meta["label"]
    notes: Notes | None = env.get("notes")
    number = notes.number(label) if notes else None
    if notes is None or number is None:
        return str(escape(f"[^{label}]"))  # no definition: the text as written
    anchor = f' id="nl-note-ref-{number}"' if notes.anchor(number) else ""
    return (f'<sup class="nl-note-ref"><a href="#nl-note-{number}"{anchor} '
            f'aria-label="Note {number}">[{number}]</a></sup>')


for _name, _rule in (("heading_open", _heading_tag), ("heading_close", _heading_tag),
                     ("table_open", _table_open), ("table_close", _table_close),
                     ("math_inline", _math_inline), ("math_block", _math_block),
                     ("footnote_ref", _footnote_ref)):
    MD.add_render_rule(_name, _rule)


def render_html(tokens: list[Token], heading_shift: int = 0, notes: Notes | None = None) -> str:
    """Prepared tokens as HTML; '### For X' becomes <h4> with heading_shift=1."""
    return MD.renderer.render(tokens, MD.options, {"shift": heading_shift, "notes": notes})


def notes_html(notes: Notes) -> str:
    """The numbered list of notes, each with a link back to where it is referred to."""
    if not notes.numbers:
        return ""
    items = []
    for number, tokens in notes.items():
        body = render_html(tokens, 1, notes).rstrip("\n")
        back = (f' <a href="#nl-note-ref-{number}" class="nl-note-back" '
                f'aria-label="Back to the text of note {number}">↩\ufe0e</a>')
        body = body[:-4] + back + "</p>" if body.endswith("</p>") else body + back
        items.append(f'<li id="nl-note-{number}">{body}</li>')
    first = notes.items()[0][0]
    return (f'<h3 class="nl-notes-title">Notes</h3>\n<ol class="nl-notes" start="{first}">\n'
            + "\n".join(items) + "\n</ol>\n")
