"""Lines of the plaintext part: filled at 72 columns, headings underlined."""

from __future__ import annotations

WIDTH = 72
UNDERLINES = {1: "=", 2: "=", 3: "-", 4: "~", 5: "~", 6: "~"}


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
