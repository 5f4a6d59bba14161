"""Subscriber management on a store: CSV import and export, add, remove, unsubscribe."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from newsletter.audience.addresses import address_or_problem, clean_name, normalize_email
from newsletter.audience.tokens import Signer
from newsletter.errors import DeliveryError
from newsletter.store.base import STATUSES, Store, Subscriber


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    bad: list[tuple[int, str]] = field(default_factory=list)  # (line, problem)


@dataclass(frozen=True)
class _Columns:
    """Where email, name and status are in each row (name and status may be absent)."""

    email: int
    name: int | None
    status: int | None

    @classmethod
    def of_header(cls, first: list[str], path: Path) -> _Columns | None:
        """The columns named by a header line; None when the first line is already a row."""
        header = [cell.strip().lower() for cell in first]
        if "email" in header:
            return cls(header.index("email"),
                       header.index("name") if "name" in header else None,
                       header.index("status") if "status" in header else None)
        if first and "@" in first[0]:
            return None
        raise DeliveryError("no 'email' column", path=path, line=1,
                            hint="start the file with a header line: email,name,status")

    def cell(self, row: list[str], index: int | None) -> str:
        return row[index] if index is not None and index < len(row) else ""

    def parse(self, row: list[str]) -> tuple[str, str, str]:
        """(email, name, status) of one row; ValueError says what is wrong with it."""
        email = address_or_problem(self.cell(row, self.email))
        name = clean_name(self.cell(row, self.name))
        status = self.cell(row, self.status).strip().lower() or "active"
        if status not in STATUSES:
            raise ValueError(f"status {status!r} is not one of {', '.join(STATUSES)}")
        return email, name, status


NO_HEADER = _Columns(0, 1, 2)


def csv_rows(handle: TextIO, report: ImportReport, path: Path) -> Iterator[tuple[str, str, str]]:
    """Good (email, name, status) rows of a CSV file; bad ones go to `report.bad` with a line."""
    reader = csv.reader(handle)
    first = next(reader, None)
    if first is None:
        return
    columns = _Columns.of_header(first, path)
    rows: Iterable[list[str]] = reader
    end = reader.line_num
    if columns is None:
        columns, rows, end = NO_HEADER, _chain(first, reader), 0
    seen: dict[str, int] = {}
    for row in rows:
        line, end = end + 1, reader.line_num  # a quoted field may span lines: name the first
        if not any(cell.strip() for cell in row):
            continue
        try:
            email, name, status = columns.parse(row)
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


def import_csv(store: Store, path: Path) -> ImportReport:
    """Add or update subscribers from a CSV file in one transaction; bad rows are skipped.

    Importing the same file again changes nothing; an address that has left is never made
    active again by an import.
    """
    report = ImportReport()
    good = 0

    def counted(handle: TextIO) -> Iterator[tuple[str, str, str]]:
        nonlocal good
        for row in csv_rows(handle, report, path):
            good += 1
            yield row

    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            report.added, report.updated = store.upsert_subscribers(counted(handle))
    except OSError as exc:
        raise DeliveryError(f"cannot be read: {exc.strerror}", path=path) from exc
    except UnicodeDecodeError as exc:
        raise DeliveryError("is not UTF-8 text", path=path, hint="save it as UTF-8") from exc
    except csv.Error as exc:
        raise DeliveryError(f"is not valid CSV: {exc}", path=path) from exc
    report.unchanged = good - report.added - report.updated
    return report


def add(store: Store, address: str, name: str = "", *, reactivate: bool = False) -> str:
    """Subscribe one address; one that has left comes back only with `reactivate`."""
    email = normalize_email(address)
    try:
        name = clean_name(name)
    except ValueError as exc:
        raise DeliveryError(str(exc)) from None
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
    return f"{email} is subscribed" if existing.status == "active" else f"reactivated {email}"


def remove(store: Store, address: str, *, forget: bool = False) -> str:
    """Stop mailing an address (kept as unsubscribed), or with `forget` erase it entirely."""
    email = normalize_email(address)
    existing = store.subscriber(email)
    if existing is None:
        raise DeliveryError(f"{email} is not a subscriber")
    if forget:
        store.delete_subscriber(existing.id)
        return f"forgot {email} and its delivery history"
    if existing.status != "active":
        return f"{email} is already {existing.status}"
    store.set_status(existing.id, "unsubscribed")
    return f"unsubscribed {email}"


def export_csv(subscribers: Iterable[Subscriber], out: TextIO) -> int:
    """Write email,name,status CSV (the import format); returns the number of rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["email", "name", "status"])
    count = 0
    for subscriber in subscribers:
        writer.writerow([subscriber.email, subscriber.name, subscriber.status])
        count += 1
    return count


def unsubscribe(store: Store, signer: Signer, token: str) -> str:
    """Apply a one-click unsubscribe token; an altered or forged token is refused."""
    subscriber_id = signer.verify(token)
    existing = store.subscriber(id=subscriber_id)
    if existing is None:
        raise DeliveryError("the token is valid but its subscriber no longer exists")
    if existing.status != "active":
        return f"{existing.email} is already {existing.status}"
    store.set_status(existing.id, "unsubscribed")
    return f"unsubscribed {existing.email}"
