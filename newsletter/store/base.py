"""The store interface: subscribers and the send ledger, whatever keeps them.

`Store` is the protocol the rest of the program depends on (the send manager, subscriber
management, and later the web app); `open_store(config)` picks the backend. Ledger states,
one row per (issue, subscriber):

    pending -> claimed -> sending -> sent | failed | pending (retry, with next_attempt_at)
    pending -> skipped (the subscriber left before their turn)

`claimed` rows belong to a worker's batch but were never handed to a server; `sending` is
committed before a message is pushed, so a row found in `sending` by a new run was in flight
when a run died: it is "in doubt" and is sent again. Who owns a claimed or sending row is its
`worker`, "<lease>/<connection>"; a lease is a `workers` row its process renews (schema v2).
On SQLite one process sends at a time (`send_lock`); on PostgreSQL any number do, and the
rows of a lease that ran out are taken over by the others (`take_over`).
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
    "subscribers": ("id", "email", "name", "status", "created_at", "updated_at", "uid",
                    "legacy_tokens"),
    "deliveries": ("issue_date", "subscriber_id", "email", "state", "attempts",
                   "next_attempt_at", "worker", "in_doubt", "reply", "updated_at"),
}
BOUNCE_KINDS = ("hard", "soft", "complaint")
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


WORKER_STATES = ("live", "stopped", "lost")  # `workers.stopped` is the index into it


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    """One send process, as its lease row shows it (for `newsletter status`)."""

    id: str  # host:pid:random; its connections own ledger rows as "<id>/<n>"
    host: str
    pid: int
    heartbeat_age: float  # seconds since its last renewal, by the database's clock
    sent: int  # as of its last renewal
    failed: int
    state: str  # live; stopped (finished or interrupted); lost (lease ran out, rows taken over)


class Store(Protocol):
    """Subscribers and the send ledger. One instance per thread."""

    path: Path  # the SQLite file; Path() for a database on a server, which has no local file
    url: str  # where it is, fit for output: sqlite:////path, or postgresql://... (no password)
    # True where several processes may send at once (PostgreSQL): leases decide who owns a
    # row. False (SQLite): the send lock lets one process in, so its behaviour is unchanged.
    shared: bool

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

    # what links name (schema v3): a random uid per subscriber, never reused
    def subscriber_by_uid(self, uid: str) -> Subscriber | None: ...

    def legacy_subscriber(self, subscriber_id: int) -> Subscriber | None:
        """The reader an old `<id>.<sig>` link names: only a row older than uids (v3)."""
        ...

    def subscriber_uids(self, first_id: int, count: int) -> dict[int, str]:
        """id -> uid of the subscribers with first_id <= id < first_id + count."""
        ...

    def subscription_state(self, email: str) -> tuple[str, str, str] | None:
        """(uid, status, updated_at) of an address; None when it is not on the list."""
        ...

    def sent_any(self, issue: str) -> bool:
        """Whether the issue has reached anyone yet (the web archive shows only those)."""
        ...

    def unsubscribe_many(self, subscriber_ids: list[int]) -> int:
        """The active ones of these readers unsubscribed, in one transaction; how many."""
        ...

    # the send ledger
    def enqueue(self, issue: str) -> int: ...
    def recover(self, issue: str) -> int:
        """At the start of a run: rows of dead runs back to pending; the in-doubt count.

        SQLite (under `send_lock`): every claimed or sending row. PostgreSQL: `take_over`.
        """
        ...

    def retry_failed(self, issue: str) -> int:
        """Failed rows of still-active subscribers back to pending, attempts from 0."""
        ...
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

    # send processes: leases, takeover, the shared pace (store/*_workers.py)
    def register_worker(self, lease: str, issue: str, host: str, pid: int,
                        seconds: float) -> None:
        """A new lease, valid for `seconds`; also forgets leases that ended a day ago."""
        ...

    def renew_worker(self, lease: str, seconds: float, sent: int, failed: int, *,
                     stopped: bool = False) -> None:
        """The heartbeat: the lease runs `seconds` more (or ends, `stopped`), with counts."""
        ...

    def take_over(self, issue: str) -> int:
        """Rows owned by leases that ran out back to pending, in-flight ones in doubt.

        Their workers are marked lost. Concurrent takeovers skip each other's rows (SKIP
        LOCKED). Returns how many rows were in flight (in doubt).
        """
        ...

    def abandon(self, issue: str, worker: str) -> int:
        """Like `take_over` for one owner (a connection that lost the database); in doubt count."""
        ...

    def workers(self, issue: str) -> list[WorkerStatus]:
        """The issue's live and lost workers (not those stopped), oldest first."""
        ...

    def pace(self, issue: str, interval: float) -> float:
        """Reserve the issue's next send slot, `interval` after the last: seconds to wait."""
        ...

    # returned mail and complaints (`newsletter bounces`; store/bounce_events.py)
    def record_bounce(self, message_key: str, issue: str | None, subscriber_id: int,
                      kind: str, status: str | None = None) -> bool:
        """One report; False if a report with this key is already recorded (idempotent)."""
        ...

    def soft_bounces_in_a_row(self, subscriber_id: int, issue: str | None) -> int:
        """Issues up to `issue` that soft-bounced since the last one delivered cleanly."""
        ...

    def bounce_rates(self, issue: str) -> dict[str, int]:
        """Subscribers with each kind of report (BOUNCE_KINDS) about one issue."""
        ...

    def last_issue(self, before: str) -> str | None:
        """The latest issue before `before` that was sent to anyone."""
        ...

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


