"""Rules on what the email can show of the Markdown: formulas and figures.

Formulas are shown as Unicode text where that is faithful; one that is not (a sum with
limits, a matrix, a fraction of fractions) is shown as its LaTeX source, which is worth a
warning naming it. Figures are published with the issue and downloaded by every reader's
mail client, so a heavy or huge one is an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from markdown_it.token import Token

from newsletter.content.documents import Document
from newsletter.diagnostics import Diagnostic
from newsletter.lint.body_rules import snippet
from newsletter.render.figures import image_size, is_local_figure
from newsletter.render.latex import convert
from newsletter.render.markdown import MD

MAX_FIGURE_BYTES = 1_000_000  # a phone on a slow connection loads this in a few seconds
MAX_FIGURE_SIDE = 4_000  # pixels; the email shows at most 536 (1,072 on a 2x screen)


def _inline_children(tokens: list[Token]) -> Iterator[tuple[Token, Token]]:
    """(block token, child) of every inline element, footnote definitions included."""
    for token in tokens:
        for child in token.children or []:
            yield token, child


def _line(doc: Document, block: Token, needle: str = "") -> int | None:
    """The file line of `needle` inside `block` (its first line when not found)."""
    if not block.map:
        return None
    start, end = block.map
    lines = doc.body.split("\n")
    for offset in range(start, min(end, len(lines))):
        if needle and needle in lines[offset]:
            return doc.body_line + offset
    return doc.body_line + start


def _formula_finding(doc: Document, block: Token, source: str, problem: str) -> Diagnostic:
    first_line = next((line for line in source.strip().split("\n") if line.strip()), "")
    return Diagnostic(
        "warning", doc.path, _line(doc, block, first_line.strip()[:40]),
        f"formula '{snippet(' '.join(source.split()), 60)}' cannot be shown as text "
        f"({problem}): readers see its LaTeX source",
        "simplify it (a/b instead of nested \\frac, no limits on \\sum) or say it in words; "
        "mail clients run no script and load no math fonts", "formula-as-source")


def formula_rules(doc: Document, tokens: list[Token]) -> list[Diagnostic]:
    """A warning for each formula shown as its LaTeX source."""
    found = []
    for token in tokens:
        if token.type == "math_block":
            formula = convert(token.content)
            if formula.problem:
                found.append(_formula_finding(doc, token, token.content, formula.problem))
    for block, child in _inline_children(tokens):
        if child.type == "math_inline":
            formula = convert(child.content)
            if formula.problem:
                found.append(_formula_finding(doc, block, child.content, formula.problem))
    return found


def _figure_problem(path: Path) -> str | None:
    """Why a figure file is too large for email, or None (a missing or unreadable file is
    refused when the issue is rendered)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as file:
            header = file.read(65_536)
    except OSError:
        return None
    if size > MAX_FIGURE_BYTES:
        return f"is {size:,} bytes, over {MAX_FIGURE_BYTES:,}"
    image = image_size(header)
    if image and max(image.width, image.height) > MAX_FIGURE_SIDE:
        return (f"is {image.width:,} x {image.height:,} pixels, over {MAX_FIGURE_SIDE:,} "
                "on a side")
    return None


def figure_rules(doc: Document, tokens: list[Token]) -> list[Diagnostic]:
    """An error for each local figure too heavy or too large to send."""
    found = []
    for block, child in _inline_children(tokens):
        src = str(child.attrs.get("src", "")).strip() if child.type == "image" else ""
        if not src or not is_local_figure(src):
            continue
        problem = _figure_problem(doc.path.parent / src)
        if problem:
            found.append(Diagnostic(
                "error", doc.path, _line(doc, block, src), f"figure '{src}' {problem}",
                "export it smaller: 1,600 px wide is plenty (PNG for charts, JPEG for "
                "photos)", "figure-size"))
    return found


def render_rules(doc: Document) -> list[Diagnostic]:
    """Every rule of this module for one paper or issue file."""
    tokens = MD.parse(doc.body)
    return formula_rules(doc, tokens) + figure_rules(doc, tokens)
