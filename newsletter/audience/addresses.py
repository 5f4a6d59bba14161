"""Addresses and names as stored: checked with email-validator (syntax only, no DNS), lowercased.

The common plain-ASCII shape is accepted by a stricter regex first: email-validator costs
about 45 µs an address, which alone would cap an import at 22,000 rows/s. Anything the regex
does not accept goes through email-validator, which also words the error.
"""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email

from newsletter.errors import DeliveryError
from newsletter.mail.headers import CONTROL

# Dot-atom local part of common characters; domain labels of letters, digits and inner
# hyphens; an alphabetic top-level domain. Every address this accepts, email-validator
# accepts too (tests/test_subscribers.py checks that on generated addresses).
_PLAIN = re.compile(r"[a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*"
                    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_SPECIAL_TLDS = frozenset({"arpa", "invalid", "local", "localhost", "onion", "test"})
MAX_NAME = 200


def normalize_email(text: str) -> str:
    """The address as stored (lowercased), or DeliveryError saying what is wrong with it."""
    try:
        return address_or_problem(text)
    except ValueError as exc:
        raise DeliveryError(f"{text.strip()!r} is not a valid address: {exc}") from None


def address_or_problem(text: str) -> str:
    """The address as stored; ValueError with what is wrong (the CSV import's fast path)."""
    address = text.strip().lower()
    if (_PLAIN.fullmatch(address) and len(address) <= 254 and address.index("@") <= 64
            and address.rpartition(".")[2] not in _SPECIAL_TLDS
            and "--" not in address.partition("@")[2]):  # IDNA reserves "ab--" labels
        return address
    try:
        result = validate_email(address, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc).rstrip(".")) from None
    return result.normalized.lower()


def clean_name(name: str) -> str:
    """A display name as stored: stripped; ValueError for control characters or excess length."""
    name = name.strip()
    if CONTROL.search(name):
        raise ValueError("the name contains a line break or control character")
    if len(name) > MAX_NAME:
        raise ValueError(f"the name is longer than {MAX_NAME} characters")
    return name
