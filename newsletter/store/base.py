"""The store interface: subscribers and the send ledger, whatever keeps them.

`Store` is the protocol the rest of the program depends on (the send manager, subscriber
management, and later the web app); `open_store(config)` picks the backend. Ledger states,
one row per (issue, subscriber):

    pending -> claimed -> sending -> sent | failed | pending (retry, with next_attempt_at)
    pending -> skipped (the subscriber left before their turn)

`claimed` rows belong to a worker's batch but were never handed to a server; `sending` is
committed before a message is pushed, so a row found in `sending` by a new run was in flight
when a run died: it is "in doubt" and is sent again.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Generator, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

STATUSES = ("active", "unsubscribed", "bounced")
STATES = ("pending", "claimed", "sending", "sent", "failed", "skipped")
# Every column of each table, in the order `dump` yields rows and `load` takes them back;
# subscribers first, since ledger rows refer to them.
TABLES: dict[str, tuple[str, ...]] = {
    "subscribers": ("id", "email", "name", "status", "created_at", "updated_at"),
    "deliveries": ("issue_date", "subscriber_id", "email", "state", "attempts",
                   "next_attempt_at", "worker", "in_doubt", "reply", "updated_at"),
}
Row = tuple[object, ...]


@dataclass(frozen=True, slots=True)
class Subscriber:
    id: int
    email: str
    name: str
    status: str


@dataclass(frozen=True, slots=True)
class Claim:
    """One ledger row handed to a worker."""

    subscriber_id: int
    email: str
    name: str
    status: str
    attempts: int


@dataclass(frozen=True)
class Outstanding:
    pending: int
    in_flight: int  # claimed or sending, by any worker
    next_due: float | None  # epoch seconds of the earliest pending row


class Store(Protocol):
    """Subscribers and the send ledger. One instance per thread."""

    path: Path  # the SQLite file; Path() for a database on a server, which has no local file
    url: str  # where it is, fit for output: sqlite:////path, or postgresql://... (no password)

    def close(self) -> None: ...
    def __enter__(self) -> Store: ...
    def __exit__(self, *exc: object) -> None: ...
    def schema_version(self) -> int: ...

    def send_lock(self) -> AbstractContextManager[None]:
        """Exclusive right to run a send; proves rows left in 'sending' belong to a dead run."""
        ...

    # subscribers
    def upsert_subscribers(self, rows: Iterable[tuple[str, str, str]]) -> tuple[int, int]: ...
    def count_subscribers(self, status: str | None = None) -> int: ...
    def subscriber(self, email: str | None = None, *,
                   id: int | None = None) -> Subscriber | None: ...
    def iter_subscribers(self, status: str | None = None) -> Iterator[Subscriber]: ...
    def set_status(self, subscriber_id: int, status: str) -> None: ...
    def set_name(self, subscriber_id: int, name: str) -> None: ...
    def delete_subscriber(self, subscriber_id: int) -> None: ...

    # the send ledger
    def enqueue(self, issue: str) -> int: ...
    def recover(self, issue: str) -> int: ...
    def claim_batch(self, issue: str, worker: str, n: int, now: float) -> list[Claim]: ...
    def release(self, issue: str, worker: str, subscriber_ids: Iterable[int]) -> None: ...
    def start_attempt(self, issue: str, worker: str, subscriber_id: int) -> bool: ...
    def unstart(self, issue: str, subscriber_id: int) -> None: ...
    def mark_sent(self, issue: str, subscriber_id: int, reply: str) -> None: ...
    def mark_sent_and_start(self, issue: str, subscriber_id: int, reply: str, worker: str,
                            next_id: int) -> bool: ...
    def mark_retry(self, issue: str, subscriber_id: int, reply: str, at: float) -> None: ...
    def mark_failed(self, issue: str, subscriber_id: int, reply: str, *,
                    bounced: bool = False, state: str = "failed") -> None: ...
    def recipients(self, issue: str) -> Iterator[Subscriber]: ...
    def outstanding(self, issue: str) -> Outstanding: ...
    def counts(self, issue: str) -> dict[str, int]: ...
    def rows(self, issue: str, state: str | None = None, *,
             in_doubt: bool = False) -> Iterator[tuple[str, str, int, str | None]]: ...

    # moving a list (`newsletter db copy`)
    def dump(self) -> Generator[tuple[str, Row], None, None]:
        """(table, row) of every row, all of TABLES' columns, one consistent snapshot."""
        ...

    def load(self, rows: Iterable[tuple[str, Row]]) -> dict[str, int]:
        """Rows as `dump` yields them, ids kept, in one transaction: rows per table.

        Refuses a store that already has rows (DeliveryError, code "not-empty").
        """
        ...


def stamp(now: float | None = None) -> str:
    """UTC timestamp as ISO 8601 text: sorts correctly and reads the same in any database."""
    return _stamp(int(time.time() if now is None else now))


@functools.lru_cache(maxsize=4)  # a send records thousands of rows within the same second
def _stamp(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))


