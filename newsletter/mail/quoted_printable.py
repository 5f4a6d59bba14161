"""Quoted-printable (RFC 2045) for bodies with slots: static text encoded once, values per reader.

Each slot sits on lines of its own, between two soft line breaks, so filling it never makes a
line of the static text longer. No encoded line starts with "." (it is written "=2E"), so a
message needs no SMTP dot-stuffing.
"""

from __future__ import annotations

import re

CRLF = b"\r\n"
SOFT = b"=\r\n"
MAX_LINE = 76
# Printable ASCII without "=", not starting with ".": goes into a QP body as it is.
_PLAIN = re.compile(rb"[\x21-\x2d\x2f-\x3c\x3e-\x7e][\x20-\x3c\x3e-\x7e]*")


def _qp_byte(byte: int) -> bytes:
    if byte in (0x20, 0x09) or (0x21 <= byte <= 0x7E and byte != 0x3D):
        return bytes([byte])
    return b"=%02X" % byte


_QP = [_qp_byte(byte) for byte in range(256)]
_DOT = b"=2E"


def qp_line(raw: bytes, *, soft_end: bool) -> list[bytes]:
    """One source line as QP output lines (without line ends), each at most 76 columns.

    The last line keeps room for a soft break when `soft_end` (a slot follows); otherwise
    trailing whitespace is encoded, as a hard line end would hide it.
    """
    tokens = [_QP[byte] for byte in raw]
    if not soft_end and tokens and tokens[-1] in (b" ", b"\t"):
        tokens[-1] = b"=%02X" % raw[-1]
    if tokens and tokens[0] == b".":
        tokens[0] = _DOT
    lines: list[bytes] = []
    current: list[bytes] = []
    width = 0
    for index, token in enumerate(tokens):
        last = index == len(tokens) - 1
        limit = MAX_LINE - 1 if (soft_end or not last) else MAX_LINE
        if width + len(token) > limit:
            lines.append(b"".join(current))
            current, width = [], 0
            if token == b".":
                token = _DOT
        current.append(token)
        width += len(token)
    lines.append(b"".join(current))
    return lines


def qp_static(text: str, *, soft_end: bool) -> bytes:
    """A static stretch of a body: hard breaks as CRLF, a soft break at its end before a slot."""
    out = []
    source_lines = text.split("\n")
    for index, line in enumerate(source_lines):
        last = index == len(source_lines) - 1
        pieces = qp_line(line.encode("utf-8"), soft_end=soft_end and last)
        out.append(SOFT.join(pieces) + (SOFT if last and soft_end else b"" if last else CRLF))
    return b"".join(out)


def qp_slot(value: str) -> bytes:
    """A filled-in value on lines of its own, each ending in a soft break."""
    raw = value.encode("utf-8")
    if _PLAIN.fullmatch(raw):
        encoded = raw
    elif _PLAIN.fullmatch(raw.replace(b"=", b"x")):
        encoded = raw.replace(b"=", b"=3D")  # an unsubscribe link: only its "=" needs escaping
    else:
        encoded = b"".join([_QP[byte] for byte in raw])
        if encoded.startswith(b"."):
            encoded = _DOT + encoded[1:]
    if len(encoded) < MAX_LINE:
        return encoded + SOFT
    out, start = [], 0
    while start < len(encoded):
        # A line that starts with "." gets it as "=2E": keep room for the two extra columns.
        end = start + MAX_LINE - (3 if encoded[start:start + 1] == b"." else 1)
        if end < len(encoded):
            escape_at = encoded.rfind(b"=", end - 2, end)  # never split "=XX"
            if escape_at > start:
                end = escape_at
        line = encoded[start:end]
        out.append(_DOT + line[1:] if line.startswith(b".") else line)
        start = end
    return SOFT.join(out) + SOFT
