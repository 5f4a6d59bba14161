"""Subscriber management on a store: CSV import and export, add, remove, unsubscribe."""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from newsletter.audience.addresses import address_or_problem, clean_name, normalize_email
from newsletter.audience.tokens import Confirmation, ReaderTokens, Signer, state_mark
from newsletter.errors import DeliveryError
from newsletter.store.base import STATUSES, Store, Subscriber

# OWASP's rule against CSV formula injection: a cell starting with one of =+-@ tab CR is run
# by spreadsheets, so the export puts a ' before it. Quotes already there before one of those
# get one more, and the import takes exactly one away, so any text comes back as it was.
_FORMULA = re.compile(r"'*[=+\-@\t\r]")
_RISKY_FIRST = frozenset("=+-@\t\r'")


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
    def of_header(cls, first: list[str], path: Path, line: int) -> _Columns | None:
        """The columns named by a header line; None when the first line is already a row."""
        header = [cell.strip().lower() for cell in first]
        if "email" in header:
            return cls(header.index("email"),
                       header.index("name") if "name" in header else None,
                       header.index("status") if "status" in header else None)
        if first and "@" in first[0]:
            return None
        raise DeliveryError("no 'email' column", path=path, line=line,
                            hint="start the file with a header line: email,name,status")

    def cell(self, row: list[str], index: int | None) -> str:
        return spreadsheet_text(row[index]) if index is not None and index < len(row) else ""

    def parse(self, row: list[str]) -> tuple[str, str, str]:
        """(email, name, status) of one row; ValueError says what is wrong with it."""
        email = address_or_problem(self.cell(row, self.email))
        name = clean_name(self.cell(row, self.name))
        status = self.cell(row, self.status).strip().lower() or "active"
        if status not in STATUSES:
            raise ValueError(f"status {status!r} is not one of {', '.join(STATUSES)}")
        return email, name, status


NO_HEADER = _Columns(0, 1, 2)


def spreadsheet_safe(cell: str) -> str:
    """A cell as exported: one a spreadsheet would run as a formula gets a leading '."""
    return "'" + cell if cell[:1] in _RISKY_FIRST and _FORMULA.match(cell) else cell


def spreadsheet_text(cell: str) -> str:
    """A cell as imported: the ' that `spreadsheet_safe` puts before a formula is taken away."""
    return cell[1:] if cell[:1] == "'" and _FORMULA.match(cell, 1) else cell


def csv_rows(handle: TextIO, report: ImportReport, path: Path) -> Iterator[tuple[str, str, str]]:
    """Good (email, name, status) rows of a CSV file; bad ones go to `report.bad` with a line."""
    records = _records(handle, report)
    first = next(records, None)
    if first is None:
        return
    columns = _Columns.of_header(first[1], path, first[0])
    if columns is None:
        columns, records = NO_HEADER, itertools.chain([first], records)
    seen: dict[str, int] = {}
    for line, row in records:
        if not any(cell.strip() for cell in row):
            continue
        try:
            email, name, status = columns.parse(row)
            if email in seen:
                raise ValueError(f"{email} is already on line {seen[email]}")
        except ValueError as exc:
            report.bad.append((line, _row_problem(row, exc)))
            continue
        seen[email] = line
        yield email, name, status


def _records(handle: TextIO, report: ImportReport) -> Iterator[tuple[int, list[str]]]:
    """(first line, cells) of each record; one the csv module refuses is reported and skipped."""
    reader = csv.reader(handle)
    end = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a field over the csv module's limit: that record only
            report.bad.append((end + 1, _csv_problem(exc)))
            end = reader.line_num
            continue
        line, end = end + 1, reader.line_num
        yield line, row  # a quoted field may span lines: the record is named by its first


def _csv_problem(exc: csv.Error) -> str:
    if "field limit" in str(exc):
        return f"a field is longer than {csv.field_size_limit():,} characters"
    return f"not valid CSV: {exc}"


def _row_problem(row: list[str], exc: ValueError) -> str:
    """What is wrong with a refused row; undecodable bytes are named as such, whatever the cell."""
    try:
        "".join(row).encode("utf-8")
    except UnicodeEncodeError:  # bytes that are not UTF-8, kept as surrogates by the reader
        return "the line is not UTF-8 text (save the file as UTF-8)"
    return str(exc)


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
        # surrogateescape: a line that is not UTF-8 is one bad row, not a failed import.
        with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
            report.added, report.updated = store.upsert_subscribers(counted(handle))
    except OSError as exc:
        raise DeliveryError(f"cannot be read: {exc.strerror}", path=path) from exc
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
    """Write email,name,status CSV (the import format); returns the number of rows.

    A cell that a spreadsheet would run as a formula starts with ' (the import takes it away).
    """
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["email", "name", "status"])
    count = 0
    for subscriber in subscribers:
        writer.writerow([spreadsheet_safe(subscriber.email), spreadsheet_safe(subscriber.name),
                         subscriber.status])
        count += 1
    return count


def unsubscribe(store: Store, tokens: ReaderTokens | Signer, token: str) -> str:
    """Apply a one-click unsubscribe token; an altered or forged token is refused, and so is
    one that names no one on the list now (forgotten, or an old link to a reused id)."""
    if isinstance(tokens, Signer):
        tokens = ReaderTokens(tokens, lambda: store)
    existing = tokens.reader(token, store)
    if existing is None:
        raise DeliveryError("the token is valid but its subscriber no longer exists")
    if not leave(store, existing):
        return f"{existing.email} is already {existing.status}"
    return f"unsubscribed {existing.email}"


def leave(store: Store, subscriber: Subscriber) -> bool:
    """Stop mailing a reader; False when they had already left (nothing changes)."""
    if subscriber.status != "active":
        return False
    store.set_status(subscriber.id, "unsubscribed")
    return True


def confirm(store: Store, confirmation: Confirmation) -> str:
    """Apply a confirmed subscription (double opt-in): "subscribed", "already" (active, nothing
    to do) or "stale" (the address changed since the link was made: nothing is done).

    This is the only way an address that left comes back without an editor.
    """
    state = store.subscription_state(confirmation.email)
    if state is not None and state[1] == "active":
        return "already"
    if state_mark(state) != confirmation.state:
        return "stale"
    if state is None:
        store.upsert_subscribers([(confirmation.email, confirmation.name, "active")])
        return "subscribed"
    existing = store.subscriber(confirmation.email)
    if existing is None:  # forgotten between the two reads
        return "stale"
    store.set_status(existing.id, "active")
    if confirmation.name and confirmation.name != existing.name:
        store.set_name(existing.id, confirmation.name)
    return "subscribed"
