"""Subscriber management: CSV import and export, add, remove, unsubscribe.

Addresses are checked with email-validator (syntax only, no DNS) and stored lowercased. The
common plain-ASCII shape is accepted by a stricter regex first: email-validator costs about
45 µs an address, which alone would cap an import at 22,000 rows/s. Anything the regex does
not accept goes through email-validator, which also words the error.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from email_validator import EmailNotValidError, validate_email

from .config import Config
from .delivery import open_store, signer
from .errors import DeliveryError
from .store import STATUSES, Store, Subscriber

# Dot-atom local part of common characters; domain labels of letters, digits and inner
# hyphens; an alphabetic top-level domain. Every address this accepts, email-validator
# accepts too (tests/test_subscribers.py checks that on generated addresses).
_PLAIN = re.compile(r"[a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*"
                    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_SPECIAL_TLDS = frozenset({"arpa", "invalid", "local", "localhost", "onion", "test"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_NAME = 200


def normalize_email(text: str) -> str:
    """The address as stored (lowercased), or DeliveryError saying what is wrong with it."""
    try:
        return _normalize(text)
    except ValueError as exc:
        raise DeliveryError(f"{text.strip()!r} is not a valid address: {exc}") from None


def _normalize(text: str) -> str:
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


def _clean_name(name: str) -> str:
    name = name.strip()
    if _CONTROL.search(name):
        raise ValueError("the name contains a line break or control character")
    if len(name) > MAX_NAME:
        raise ValueError(f"the name is longer than {MAX_NAME} characters")
    return name


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    bad: list[tuple[int, str]] = field(default_factory=list)  # (line, problem)


def _rows(handle: TextIO, report: ImportReport, path: Path) -> Iterator[tuple[str, str, str]]:
    reader = csv.reader(handle)
    first = next(reader, None)
    if first is None:
        return
    header = [cell.strip().lower() for cell in first]
    if "email" in header:
        columns = (header.index("email"), header.index("name") if "name" in header else None,
                   header.index("status") if "status" in header else None)
        rows: Iterator[list[str]] = reader
    elif first and "@" in first[0]:
        columns = (0, 1, 2)  # no header: email, name, status
        rows = _chain(first, reader)
    else:
        raise DeliveryError("no 'email' column", path=path, line=1,
                            hint="start the file with a header line: email,name,status")
    email_at, name_at, status_at = columns
    seen: dict[str, int] = {}
    end = reader.line_num if rows is reader else 0
    for row in rows:
        line, end = end + 1, reader.line_num  # a quoted field may span lines: name the first
        if not any(cell.strip() for cell in row):
            continue
        try:
            email = _normalize(row[email_at] if email_at < len(row) else "")
            name = _clean_name(row[name_at]) if name_at is not None and name_at < len(row) \
                else ""
            status = (row[status_at].strip().lower() if status_at is not None
                      and status_at < len(row) else "") or "active"
            if status not in STATUSES:
                raise ValueError(f"status {status!r} is not one of {', '.join(STATUSES)}")
            if email in seen:
                raise ValueError(f"{email} is already on line {seen[email]}")
        except ValueError as exc:
            report.bad.append((line, str(exc)))
            continue
        seen[email] = line
        yield email, name, status


def _chain(first: list[str], rest: Iterator[list[str]]) -> Iterator[list[str]]:
    yield first
    yield from rest


def import_csv(config: Config, path: Path) -> ImportReport:
    """Add or update subscribers from a CSV file in one transaction; bad rows are skipped.

    Importing the same file again changes nothing; an address that has left is never made
    active again by an import.
    """
    report = ImportReport()
    good = 0

    def counted(handle: TextIO) -> Iterator[tuple[str, str, str]]:
        nonlocal good
        for row in _rows(handle, report, path):
            good += 1
            yield row

    try:
        with open(path, encoding="utf-8-sig", newline="") as handle, \
                open_store(config) as store:
            report.added, report.updated = store.upsert_subscribers(counted(handle))
    except OSError as exc:
        raise DeliveryError(f"cannot be read: {exc.strerror}", path=path) from exc
    except UnicodeDecodeError as exc:
        raise DeliveryError("is not UTF-8 text", path=path, hint="save it as UTF-8") from exc
    except csv.Error as exc:
        raise DeliveryError(f"is not valid CSV: {exc}", path=path) from exc
    report.unchanged = good - report.added - report.updated
    return report


def add(config: Config, address: str, name: str = "", *, reactivate: bool = False) -> str:
    """Subscribe one address; one that has left comes back only with `reactivate`."""
    email = normalize_email(address)
    try:
        name = _clean_name(name)
    except ValueError as exc:
        raise DeliveryError(str(exc)) from None
    with open_store(config) as store:
        existing = store.subscriber(email)
        if existing is None:
            store.upsert_subscribers([(email, name, "active")])
            return f"added {email}"
        if existing.status != "active":
            if not reactivate:
                raise DeliveryError(f"{email} is {existing.status}",
                                    hint="add --reactivate if they asked to subscribe again")
            store.set_status(existing.id, "active")
        if name and name != existing.name:
            store.set_name(existing.id, name)
        return f"{email} is subscribed" if existing.status == "active" else \
            f"reactivated {email}"


def remove(config: Config, address: str, *, forget: bool = False) -> str:
    """Stop mailing an address (kept as unsubscribed), or with `forget` erase it entirely."""
    email = normalize_email(address)
    with open_store(config) as store:
        existing = _existing(store, email)
        if forget:
            store.delete_subscriber(existing.id)
            return f"forgot {email} and its delivery history"
        if existing.status != "active":
            return f"{email} is already {existing.status}"
        store.set_status(existing.id, "unsubscribed")
        return f"unsubscribed {email}"


def _existing(store: Store, email: str) -> Subscriber:
    existing = store.subscriber(email)
    if existing is None:
        raise DeliveryError(f"{email} is not a subscriber")
    return existing


def iter_subscribers(config: Config, status: str | None = None) -> Iterator[Subscriber]:
    """Stream subscribers in the order they were added."""
    with open_store(config) as store:
        yield from store.iter_subscribers(status)


def export_csv(config: Config, out: TextIO, status: str | None = None) -> int:
    """Write email,name,status CSV (the import format); returns the number of rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["email", "name", "status"])
    count = 0
    for subscriber in iter_subscribers(config, status):
        writer.writerow([subscriber.email, subscriber.name, subscriber.status])
        count += 1
    return count


def unsubscribe(config: Config, token: str) -> str:
    """Apply a one-click unsubscribe token; an altered or forged token is refused."""
    subscriber_id = signer(config).verify(token)
    with open_store(config) as store:
        existing = store.subscriber(id=subscriber_id)
        if existing is None:
            raise DeliveryError("the token is valid but its subscriber no longer exists")
        if existing.status != "active":
            return f"{existing.email} is already {existing.status}"
        store.set_status(existing.id, "unsubscribed")
        return f"unsubscribed {existing.email}"
