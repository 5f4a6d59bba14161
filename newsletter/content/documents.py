"""Readers' first step: a file split into YAML front matter and a Markdown body."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import frontmatter
import yaml

from newsletter.errors import ContentError, read_text

_YAML = frontmatter.YAMLHandler()
# libyaml when PyYAML was built with it: ten times faster than the pure-Python parser.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class Document:
    """A file split by a reader: metadata, Markdown body, and where things are."""

    path: Path
    meta: dict[str, Any]
    body: str
    body_line: int  # 1-based line number of the first body line
    raw_meta: str = ""

    @cached_property
    def value_lines(self) -> dict[tuple[str, ...], int]:
        """File line of each front matter key and list item: ('links', 'arXiv') -> 13.

        Worked out only when a message needs a line.
        """
        return front_matter_lines(self.raw_meta)

    def line_of(self, *key: str) -> int | None:
        return self.value_lines.get(key)


def front_matter_lines(raw_meta: str) -> dict[tuple[str, ...], int]:
    """Key path -> file line, for mappings and the scalar items of lists."""
    try:
        root = yaml.compose(raw_meta, Loader=LOADER)
    except yaml.YAMLError:
        return {}
    lines: dict[tuple[str, ...], int] = {}

    def walk(node: yaml.Node | None, path: tuple[str, ...]) -> None:
        # raw_meta starts with the newline after the opening '---', so YAML line + 1 = file line
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                lines.setdefault((*path, str(key.value)), key.start_mark.line + 1)
                walk(value, (*path, str(key.value)))
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                if isinstance(item, yaml.ScalarNode):
                    lines.setdefault((*path, str(item.value)), item.start_mark.line + 1)

    walk(root, ())
    return lines


def read_document(path: Path) -> Document:
    """Split a file into front matter and body; YAML errors name their line."""
    text = read_text(path, ContentError)
    if not _YAML.detect(text):
        raise ContentError("has no front matter", path=path, line=1,
                           hint="start the file with a '---' line, the YAML fields, and '---'")
    raw_meta, body = _YAML.split(text)
    body_line = text[: len(text) - len(body)].count("\n") + 1
    try:
        meta = yaml.load(raw_meta, Loader=LOADER) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ContentError(f"front matter: {problem}", path=path, line=line,
                           hint="fix the YAML between the '---' lines") from exc
    if not isinstance(meta, dict):
        raise ContentError("front matter must be 'key: value' lines", path=path, line=2)
    return Document(path, meta, body, body_line, raw_meta)
