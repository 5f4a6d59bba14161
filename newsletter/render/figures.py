"""Figures: a Markdown image of a file beside the paper, published with the issue's web copy.

`![Throughput](fig1.png)` next to `seeds/papers/<slug>.md` is copied into `outbox/<date>/`
(which the web archive serves as `<base_url>/issues/<date>/`) and shown in the email from
that absolute address, sized for the 600 px email: its width attribute is the image's own
width up to the text column, and `max-width: 100%` lets a phone scale it down.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from newsletter.errors import ContentError

# The 600 px email minus mj-text's 32 px padding on each side (templates/issue.mjml.j2).
COLUMN_WIDTH = 536
FIGURE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\.(?:png|jpe?g|gif)", re.I)
_PNG = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (baseline, progressive, ...): they carry the image size.
_JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


@dataclass(frozen=True)
class ImageSize:
    """What an image file's header says: its format and its size in pixels."""

    kind: str  # "png", "jpeg" or "gif"
    width: int
    height: int


def image_size(data: bytes) -> ImageSize | None:
    """The format and pixel size of a PNG, JPEG or GIF from its header, or None."""
    if data.startswith(_PNG) and data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return ImageSize("png", width, height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return ImageSize("gif", width, height)
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    return None


def _jpeg_size(data: bytes) -> ImageSize | None:
    position = 2
    while position + 9 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # padding before a marker
            position += 1
            continue
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        if marker in _JPEG_FRAMES:
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            return ImageSize("jpeg", width, height)
        position += 2 + length
    return None


def is_local_figure(src: str) -> bool:
    """Whether an image address names a file of the content (no scheme, host or root)."""
    parts = urlsplit(src.strip())
    return bool(src.strip()) and not parts.scheme and not parts.netloc \
        and not src.strip().startswith("/")


@dataclass(frozen=True)
class Figure:
    """A local figure as the email shows it: its published address and width attribute."""

    url: str
    width: int
    path: Path


def _line_of(path: Path, needle: str) -> int | None:
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError):
        return None
    return next((number for number, line in enumerate(lines, 1) if needle in line), None)


@dataclass
class Figures:
    """The local figures of one rendering: each checked and measured once, and remembered so
    the archive can publish them."""

    url_prefix: str  # <base_url>/issues/<date>
    used: dict[str, Path] = field(default_factory=dict)
    _seen: dict[Path, Figure] = field(default_factory=dict)

    def resolve(self, src: str, source: Path) -> Figure:
        """The figure `src` of the Markdown file `source`; a ContentError at its line if the
        file is not a PNG, JPEG or GIF next to it."""
        path = source.parent / src.strip()
        if path not in self._seen:
            self._seen[path] = self._measure(src.strip(), path, source)
        if self.used.setdefault(path.name, path) != path:
            raise ContentError(f"figure '{path.name}' is also the name of another figure, "
                               f"{self.used[path.name]}", path=source,
                               line=_line_of(source, src.strip()),
                               hint="give each figure of an issue its own file name")
        return self._seen[path]

    def _measure(self, name: str, path: Path, source: Path) -> Figure:
        def problem(message: str, hint: str) -> ContentError:
            return ContentError(message, path=source, line=_line_of(source, name), hint=hint)

        if not FIGURE_NAME.fullmatch(name):
            raise problem(f"figure '{name}' must be a .png, .jpg or .gif file next to "
                          f"{source.name}", "put the image beside the paper and use its name")
        if not path.is_file():
            raise problem(f"figure '{name}' not found next to {source.name}",
                          f"put {name} in {source.parent}, or fix the name")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise problem(f"figure '{name}' cannot be read: {exc.strerror}",
                          "check the file's permissions") from exc
        size = image_size(data)
        if size is None:
            raise problem(f"figure '{name}' is not a PNG, JPEG or GIF image",
                          "save it as PNG (charts) or JPEG (photos)")
        return Figure(f"{self.url_prefix}/{path.name}", min(size.width, COLUMN_WIDTH), path)
