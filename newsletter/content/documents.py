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
_BASE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# A paper or issue is a few KB; a file this big is a paste gone wrong, and reading it would
# take seconds and gigabytes before the email's own size check could say so.
MAX_FILE_BYTES = 1_000_000
_MERGE_TAG = "tag:yaml.org,2002:merge"


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping gives the same key twice (plain YAML would keep the last one silently)."""

    def __init__(self, key: Any, first: yaml.Mark, again: yaml.Mark) -> None:
        super().__init__(None, None, f"'{key}' is given twice", again)
        self.first_mark, self.again_mark = first, again


class FrontMatterLoader(_BASE_LOADER):
    """The safe loader (libyaml's parser when there is one) with two of YAML's traps closed.

    A key given twice is an error, not a silent override. A timestamp that is no real date
    (an unquoted `2025-02-30`) stays text, so the model reports it like the quoted form,
    with its field and line. Any other value PyYAML's constructors fail on with a plain
    exception (`!!int x`) is a YAML error with its line, never a traceback.
    """

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, KeyError, AttributeError, TypeError) as exc:
            shown = repr(node.value) if isinstance(node, yaml.ScalarNode) else "this value"
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {shown} as {node.tag.rpartition(':')[2]}",
                node.start_mark) from exc

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            _refuse_duplicate_keys(self, node)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def _refuse_duplicate_keys(loader: Any, node: yaml.MappingNode) -> None:
    first_seen: dict[Any, yaml.Mark] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
            continue
        key = loader.construct_object(key_node)  # cached: the mapping reuses it
        if key in first_seen:
            raise DuplicateKeyError(key, first_seen[key], key_node.start_mark)
        first_seen[key] = key_node.start_mark


def _timestamp_or_text(loader: Any, node: yaml.ScalarNode) -> Any:
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError:
        return loader.construct_scalar(node)


FrontMatterLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_or_text)
LOADER = FrontMatterLoader


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


def _refuse_large(path: Path) -> None:
    try:
        size = path.stat().st_size
    except OSError:
        return  # reading it names the problem
    if size > MAX_FILE_BYTES and path.is_file():
        raise ContentError(f"is {size:,} bytes, over the {MAX_FILE_BYTES:,}-byte limit "
                           "for a paper or issue file", path=path,
                           hint="a paper or issue is a few KB of Markdown: remove what was "
                                "pasted in by mistake, or link to it")


def _parse_meta(raw_meta: str, path: Path) -> dict[str, Any]:
    try:
        meta = yaml.load(raw_meta, Loader=LOADER) or {}
    except DuplicateKeyError as exc:
        # raw_meta starts with the newline after the opening '---': YAML line + 1 = file line
        first, again = exc.first_mark.line + 1, exc.again_mark.line + 1
        raise ContentError(f"front matter: {exc.problem}, on lines {first} and {again}",
                           path=path, line=again,
                           hint="keep one of them: YAML would silently use the last") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ContentError(f"front matter: {problem}", path=path, line=line,
                           hint="fix the YAML between the '---' lines") from exc
    if not isinstance(meta, dict):
        raise ContentError("front matter must be 'key: value' lines", path=path, line=2)
    return meta


def read_document(path: Path) -> Document:
    """Split a file into front matter and body; YAML errors name their line.

    A file over MAX_FILE_BYTES is refused before it is read.
    """
    _refuse_large(path)
    text = read_text(path, ContentError)
    if not _YAML.detect(text):
        raise ContentError("has no front matter", path=path, line=1,
                           hint="start the file with a '---' line, the YAML fields, and '---'")
    raw_meta, body = _YAML.split(text)
    body_line = text[: len(text) - len(body)].count("\n") + 1
    return Document(path, _parse_meta(raw_meta, path), body, body_line, raw_meta)
