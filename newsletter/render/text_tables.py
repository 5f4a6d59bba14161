"""A Markdown table in the plaintext part: aligned columns under a header rule, or, when the
columns do not fit in the line, one "Header: value" block per row."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from markdown_it.token import Token

from newsletter.render.lines import wrap

GAP = "  "
_ALIGN = {"text-align:right": "right", "text-align:center": "center"}


@dataclass
class Table:
    """The cells of one table as text, read from its tokens."""

    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    aligns: list[str] = field(default_factory=list)
    caption: str = ""

    @classmethod
    def read(cls, tokens: list[Token], start: int,
             cell_text: Callable[[Token], str]) -> tuple[Table, int]:
        """The table opening at `start`, and the index just after its closing token."""
        table = cls()
        caption = tokens[start].meta.get("caption")
        if caption is not None:
            table.caption = cell_text(caption)
        index, in_head = start + 1, False
        row: list[str] = []
        while tokens[index].type != "table_close":
            token = tokens[index]
            if token.type in ("thead_open", "thead_close"):
                in_head = token.type == "thead_open"
            elif token.type == "tr_open":
                row = table.header if in_head else []
                if not in_head:
                    table.rows.append(row)
            elif token.type == "th_open":
                table.aligns.append(_ALIGN.get(str(token.attrs.get("style", "")), "left"))
            elif token.type == "inline":
                row.append(cell_text(token))
            index += 1
        return table, index + 1

    def names(self) -> list[str]:
        """Each column's header, or 'Column N' where the header cell is empty."""
        return [name or f"Column {number}" for number, name in enumerate(self.header, 1)]


def _cell(text: str, width: int, align: str) -> str:
    if align == "right":
        return text.rjust(width)
    return text.center(width) if align == "center" else text.ljust(width)


def aligned(table: Table, indent: str, width: int) -> str | None:
    """Aligned columns with a rule under the header, or None if they do not fit in `width`."""
    columns = len(table.header)
    rows = [table.header, *table.rows]
    widths = [max(len(row[column]) for row in rows if column < len(row))
              for column in range(columns)]
    if len(indent) + sum(widths) + len(GAP) * (columns - 1) > width:
        return None
    aligns = table.aligns + ["left"] * (columns - len(table.aligns))
    lines = [indent + GAP.join(_cell(row[column] if column < len(row) else "",
                                     widths[column], aligns[column])
                               for column in range(columns)).rstrip()
             for row in rows]
    lines.insert(1, indent + GAP.join("-" * w for w in widths))
    return "\n".join(lines)


def stacked(table: Table, indent: str, width: int) -> str:
    """One block per row, a "Header: value" line for each cell: for tables too wide."""
    names = table.names()
    blocks = []
    for row in table.rows:
        lines = [wrap(f"{name}: {value}", indent, indent + "  ", width)
                 for name, value in zip(names, row, strict=False) if value]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def table_text(table: Table, indent: str, width: int) -> str:
    """The table as plaintext within `width` columns, its caption first."""
    body = aligned(table, indent, width) or stacked(table, indent, width)
    if table.caption:
        return wrap(f"Table: {table.caption}", indent, width=width) + "\n\n" + body
    return body
