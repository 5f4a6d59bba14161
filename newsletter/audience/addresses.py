"""Addresses and names as stored: checked with email-validator (syntax only, no DNS), lowercased.

An address is stored as email-validator normalises it: an internationalised domain in its
Unicode form (`xn--` input is turned into it, so both spellings are one subscriber), and a
non-ASCII local part kept (such a reader needs a server that offers SMTPUTF8). The SMTP
envelope and the To header use the domain's ASCII (IDNA) form, made when sending.

The common plain-ASCII shape is accepted by a stricter regex first (`config.plain_address`):
email-validator costs about 45 µs an address, which alone would cap an import at 22,000
rows/s. Anything the regex does not accept goes through email-validator, which also words
the error.
"""

from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email

from newsletter.config import plain_address
from newsletter.errors import DeliveryError

MAX_NAME = 200
# Zero-width (non-)joiners are not "printable", but some names cannot be spelt without them
# (Persian, Indic scripts, emoji sequences); they cannot break a line or a header.
_JOINERS = frozenset("\u200c\u200d")
_UNPRINTABLE = {
    "Cc": "a line break or control character",
    "Zl": "a line break or control character",
    "Zp": "a line break or control character",
    "Cf": "an invisible formatting character",
    "Cs": "bytes that are not UTF-8 text",
}


def normalize_email(text: str) -> str:
    """The address as stored (lowercased), or DeliveryError saying what is wrong with it."""
    try:
        return address_or_problem(text)
    except ValueError as exc:
        raise DeliveryError(f"{text.strip()!r} is not a valid address: {exc}") from None


def address_or_problem(text: str) -> str:
    """The address as stored; ValueError with what is wrong (the CSV import's fast path)."""
    address = text.strip().lower()
    if plain_address(address):
        return address
    try:
        result = validate_email(address, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise ValueError(str(exc).rstrip(".")) from None
    return result.normalized.lower()


def clean_name(name: str) -> str:
    """A display name as stored: stripped; ValueError for an unprintable character or excess length.

    Refused: control characters and line or paragraph separators (U+0085, U+2028, U+2029),
    invisible formatting characters (bidirectional overrides, soft hyphens...), unassigned
    and private-use code points. Spaces of any kind and the zero-width joiners are kept.
    """
    name = name.strip()
    if not name.isprintable():
        _refuse_unprintable(name)
    if len(name) > MAX_NAME:
        raise ValueError(f"the name is longer than {MAX_NAME} characters")
    return name


def _refuse_unprintable(name: str) -> None:
    for char in name:
        category = unicodedata.category(char)
        if char.isprintable() or category == "Zs" or char in _JOINERS:
            continue
        what = _UNPRINTABLE.get(category, "an unassigned or private-use character")
        raise ValueError(f"the name contains {what} (U+{ord(char):04X})")
