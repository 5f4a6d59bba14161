"""The SQLite backend of the store: subscribers and the send ledger in one file.

The rest of the program knows only the `Store` protocol (store/base.py).
Its SQL is kept portable (no SQLite-only functions; `ON CONFLICT`, row values and standard
types) because the next backend is PostgreSQL, where several send workers on several machines
share one ledger. There `claim_batch` becomes ``SELECT ... FOR UPDATE SKIP LOCKED`` inside the
same transaction; here SQLite's `BEGIN IMMEDIATE` serialises writers, which gives the same
guarantee: no row is handed to two workers.

Ledger states, one row per (issue, subscriber):

    pending -> claimed -> sending -> sent | failed | pending (retry, with next_attempt_at)
    pending -> skipped (the subscriber left before their turn)

`claimed` rows belong to a worker's batch but were never handed to a server, so a dead run's
claimed rows simply go back to pending. `sending` is committed before a message is pushed
and left in the commit right after the server's reply (which also marks the worker's next
message `sending`: `mark_sent_and_start`), so a row still in
`sending` when a run starts is exactly a message that was in flight when a run died: it is "in
doubt" (the server may have accepted it) and is sent again.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Generator, Iterable, Iterator
from contextlib import contextmanager
from itertools import groupby
from operator import itemgetter
from pathlib import Path

from newsletter.errors import DeliveryError
from newsletter.store.base import STATES, TABLES, Claim, Outstanding, Row, Subscriber, stamp
from newsletter.store.bounce_events import BounceEvents
from newsletter.store.links import SubscriberLinks
from newsletter.store.migrations import latest, pending
from newsletter.store.sqlite_workers import SQLiteWorkers
from newsletter.store.urls import sqlite_url

_START_ATTEMPT = """
    UPDATE deliveries SET state = 'sending', attempts = attempts + 1
    WHERE issue_date = ? AND subscriber_id = ? AND state = 'claimed' AND worker = ?"""

_WRITER_LOCKS: dict[Path, threading.Lock] = {}
_REGISTRY_LOCK = threading.Lock()


def _writer_lock(path: Path) -> threading.Lock:
    """One lock per database file for the writers of this process.

    SQLite lets one writer in at a time; a connection that finds the file locked sleeps in
    its busy handler for a millisecond or more. Queueing the threads of a send on a Python
    lock instead hands the database over at once, which keeps the gap between the server's
    acceptance and the commit that records it (the duplicate window) short.
    """
    with _REGISTRY_LOCK:
        return _WRITER_LOCKS.setdefault(path.resolve(), threading.Lock())


# In the order of the queue index (schema v5), which it reads no further than the batch.
CLAIM = """
    SELECT d.subscriber_id, d.email, s.name, s.status, d.attempts
    FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
    WHERE d.issue_date = ? AND d.state = 'pending' AND d.next_attempt_at <= ?
    ORDER BY d.next_attempt_at, d.subscriber_id LIMIT ?"""


class SQLiteStore(SQLiteWorkers, BounceEvents, SubscriberLinks):
    """The Store on one SQLite file. One instance per thread (one connection each).

    Recovery, leases and the shared pace are in store/sqlite_workers.py."""

    _dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = sqlite_url(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = _writer_lock(path)
        try:
            self._db = sqlite3.connect(path, isolation_level=None, timeout=30,
                                       check_same_thread=False)
        except sqlite3.Error as exc:
            raise DeliveryError(f"cannot open the database: {exc}", path=path) from exc
        try:
            # WAL: readers never block the writer. synchronous=NORMAL: a commit is durable as
            # soon as it is in the WAL file, which survives the process being killed (only a
            # power loss can drop the last commits), at a tenth of the cost of FULL.
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise DeliveryError(f"not a usable database: {exc}", path=path) from exc
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema -------------------------------------------------------------------------------

    def _migrate(self) -> None:
        self._db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        if self.schema_version() == latest():
            return
        with self._write() as db:
            # Read again under the write lock: another process may have migrated meanwhile.
            for migration in pending(self.schema_version(), self.path):
                for statement in migration.sqlite:
                    db.execute(statement)
            db.execute("DELETE FROM schema_version")
            db.execute("INSERT INTO schema_version (version) VALUES (?)", (latest(),))

    def schema_version(self) -> int:
        row = self._db.execute("SELECT max(version) FROM schema_version").fetchone()
        return row[0] or 0

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; IMMEDIATE takes the write lock up front (no upgrade deadlock)."""
        with self._writer:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _fetch(self, sql: str, params: dict[str, object]) -> list[tuple]:
        return self._db.execute(sql, params).fetchall()

    def _update(self, sql: str, parameters: tuple | dict[str, object]) -> int:
        """One statement in its own transaction (autocommit); the number of rows changed."""
        with self._writer:
            return self._db.execute(sql, parameters).rowcount

    @contextmanager
    def send_lock(self) -> Iterator[None]:
        """Exclusive right to run a send on this database, released by the kernel on any exit.

        Holding it proves that rows left in 'sending' belong to a dead run. (A PostgreSQL
        backend replaces this with per-worker leases.)
        """
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise DeliveryError("another send is running on this database",
                                    path=self.path, hint="wait for it to finish") from None
            yield
        finally:
            os.close(fd)

    # -- subscribers ----------------------------------------------------------------------------

    def upsert_subscribers(self, rows: Iterable[tuple[str, str, str]]) -> tuple[int, int]:
        """Insert or update (email, name, status) rows in one transaction: (added, updated).

        A blank name keeps the stored one. An address that has left (unsubscribed, bounced)
        is never made active again; an import may still mark an active address as left.
        """
        now = stamp()
        with self._write() as db, self._large_cache(db):
            before = self.count_subscribers()
            changes = db.total_changes
            db.executemany("""
                INSERT INTO subscribers (email, name, status, created_at, updated_at, uid)
                VALUES (?, ?, ?, ?, ?, lower(hex(randomblob(16))))
                ON CONFLICT (email) DO UPDATE SET
                    name = CASE WHEN excluded.name = '' THEN subscribers.name
                                ELSE excluded.name END,
                    status = CASE WHEN subscribers.status = 'active' THEN excluded.status
                                  ELSE subscribers.status END,
                    updated_at = excluded.updated_at
                WHERE (excluded.name <> '' AND excluded.name <> subscribers.name)
                   OR (subscribers.status = 'active' AND excluded.status <> 'active')""",
                ((email, name, status, now, now) for email, name, status in rows))
            added = self.count_subscribers() - before
            return added, db.total_changes - changes - added

    @staticmethod
    @contextmanager
    def _large_cache(db: sqlite3.Connection) -> Iterator[None]:
        """A page cache of up to 64 MB for a bulk import, then the default again.

        Each new row goes into the uid index at a random place (uids are random): with
        SQLite's default 2 MB cache an import of 100,000 rows reads and writes index pages
        over and over: 30,000 rows/s, 49,000 with this cache (BENCHMARKS.md).
        """
        saved = db.execute("PRAGMA cache_size").fetchone()[0]
        db.execute("PRAGMA cache_size = -65536")
        try:
            yield
        finally:
            db.execute(f"PRAGMA cache_size = {int(saved)}")

    def count_subscribers(self, status: str | None = None) -> int:
        if status is None:
            return self._db.execute("SELECT count(*) FROM subscribers").fetchone()[0]
        return self._db.execute("SELECT count(*) FROM subscribers WHERE status = ?",
                                (status,)).fetchone()[0]

    def subscriber(self, email: str | None = None, *, id: int | None = None) -> Subscriber | None:
        """One subscriber by address or by id."""
        column, value = ("id", id) if id is not None else ("email", email)
        row = self._db.execute(f"SELECT id, email, name, status FROM subscribers "
                               f"WHERE {column} = ?", (value,)).fetchone()
        return Subscriber(*row) if row else None

    def iter_subscribers(self, status: str | None = None) -> Iterator[Subscriber]:
        """Stream subscribers in id order; the cursor fetches as it goes, never the whole list."""
        sql = "SELECT id, email, name, status FROM subscribers"
        cursor = (self._db.execute(sql + " WHERE status = ? ORDER BY id", (status,))
                  if status else self._db.execute(sql + " ORDER BY id"))
        for row in cursor:
            yield Subscriber(*row)

    def set_status(self, subscriber_id: int, status: str) -> None:
        with self._write() as db:
            db.execute("UPDATE subscribers SET status = ?, updated_at = ? WHERE id = ?",
                       (status, stamp(), subscriber_id))

    def set_name(self, subscriber_id: int, name: str) -> None:
        with self._write() as db:
            db.execute("UPDATE subscribers SET name = ?, updated_at = ? WHERE id = ?",
                       (name, stamp(), subscriber_id))

    def delete_subscriber(self, subscriber_id: int) -> None:
        """Forget an address entirely, with its ledger rows (erasure on request)."""
        with self._write() as db:
            db.execute("DELETE FROM subscribers WHERE id = ?", (subscriber_id,))

    # -- the send ledger ------------------------------------------------------------------------

    def enqueue(self, issue: str) -> int:
        """One pending row per active subscriber without a row yet; runs inside the database."""
        with self._write() as db:
            cursor = db.execute("""
                INSERT INTO deliveries (issue_date, subscriber_id, email, state, updated_at)
                SELECT ?, id, email, 'pending', ? FROM subscribers WHERE status = 'active'
                ON CONFLICT (issue_date, subscriber_id) DO NOTHING""", (issue, stamp()))
            return cursor.rowcount

    def claim_batch(self, issue: str, worker: str, n: int, now: float) -> list[Claim]:
        """Hand up to n due pending rows to `worker` (pending -> claimed).

        PostgreSQL: the SELECT takes ``FOR UPDATE OF d SKIP LOCKED`` so concurrent workers get
        disjoint batches without waiting on each other.
        """
        with self._write() as db:
            rows = db.execute(CLAIM, (issue, now, n)).fetchall()
            when = stamp(now)
            db.executemany("""UPDATE deliveries SET state = 'claimed', worker = ?, updated_at = ?
                              WHERE issue_date = ? AND subscriber_id = ?""",
                           [(worker, when, issue, row[0]) for row in rows])
        return [Claim(*row) for row in rows]

    def release(self, issue: str, worker: str, subscriber_ids: Iterable[int]) -> None:
        """The worker's claimed rows that it never pushed go back to pending.

        Only its own: a row it retried may already be claimed by another worker.
        """
        with self._write() as db:
            db.executemany("""UPDATE deliveries SET state = 'pending', worker = NULL
                              WHERE issue_date = ? AND subscriber_id = ? AND state = 'claimed'
                                AND worker = ?""",
                           [(issue, sid, worker) for sid in subscriber_ids])

    def start_attempt(self, issue: str, worker: str, subscriber_id: int) -> bool:
        """Committed right before the message goes to the server: from here it is in flight.

        False if the row is no longer this worker's claim (then it must not be sent).
        """
        return self._update(_START_ATTEMPT, (issue, subscriber_id, worker)) == 1

    def unstart(self, issue: str, subscriber_id: int) -> None:
        """The connection failed before any of the message went out: not an attempt after all."""
        self._update("""UPDATE deliveries SET state = 'claimed', attempts = attempts - 1
                        WHERE issue_date = ? AND subscriber_id = ? AND state = 'sending'""",
                     (issue, subscriber_id))

    def mark_sent(self, issue: str, subscriber_id: int, reply: str) -> None:
        """Committed right after the server's acceptance: the only window for a duplicate."""
        self._update("""UPDATE deliveries SET state = 'sent', reply = ?, worker = NULL,
                            updated_at = ?
                        WHERE issue_date = ? AND subscriber_id = ?""",
                     (reply, stamp(), issue, subscriber_id))

    def mark_sent_and_start(self, issue: str, subscriber_id: int, reply: str, worker: str,
                            next_id: int) -> bool:
        """`mark_sent` for one row and `start_attempt` for the next, in one statement.

        True if the next row is now in flight (it is still this worker's claim).
        """
        return self._update("""
            UPDATE deliveries SET
                state = CASE WHEN subscriber_id = :sent THEN 'sent' ELSE 'sending' END,
                reply = CASE WHEN subscriber_id = :sent THEN :reply ELSE reply END,
                worker = CASE WHEN subscriber_id = :sent THEN NULL ELSE worker END,
                updated_at = CASE WHEN subscriber_id = :sent THEN :now ELSE updated_at END,
                attempts = CASE WHEN subscriber_id = :sent THEN attempts ELSE attempts + 1 END
            WHERE issue_date = :issue
              AND (subscriber_id = :sent
                   OR (subscriber_id = :next AND state = 'claimed' AND worker = :worker))""",
            {"sent": subscriber_id, "reply": reply, "now": stamp(), "issue": issue,
             "next": next_id, "worker": worker}) == 2

    def mark_retry(self, issue: str, subscriber_id: int, reply: str, at: float) -> None:
        self._update("""UPDATE deliveries SET state = 'pending', reply = ?, worker = NULL,
                            next_attempt_at = ?, updated_at = ?
                        WHERE issue_date = ? AND subscriber_id = ?""",
                     (reply, at, stamp(), issue, subscriber_id))

    def mark_failed(self, issue: str, subscriber_id: int, reply: str, *,
                    bounced: bool = False, state: str = "failed") -> None:
        """Permanent failure (or 'skipped'); a bounce also stops all later issues."""
        with self._write() as db:
            db.execute("""UPDATE deliveries SET state = ?, reply = ?, worker = NULL,
                              updated_at = ?
                          WHERE issue_date = ? AND subscriber_id = ?""",
                       (state, reply, stamp(), issue, subscriber_id))
            if bounced:
                db.execute("""UPDATE subscribers SET status = 'bounced', updated_at = ?
                              WHERE id = ? AND status = 'active'""", (stamp(), subscriber_id))

    def recipients(self, issue: str) -> Iterator[Subscriber]:
        """Active subscribers this issue has not reached yet, streamed (for --dry-run)."""
        yield from (Subscriber(*row) for row in self._db.execute("""
            SELECT s.id, s.email, s.name, s.status FROM subscribers s
            LEFT JOIN deliveries d ON d.subscriber_id = s.id AND d.issue_date = ?
            WHERE s.status = 'active'
              AND (d.state IS NULL OR d.state IN ('pending', 'claimed', 'sending'))
            ORDER BY s.id""", (issue,)))

    def outstanding(self, issue: str) -> Outstanding:
        """What is left: decides whether a worker waits for a retry or stops."""
        pending, next_due = self._db.execute("""
            SELECT count(*), min(next_attempt_at) FROM deliveries
            WHERE issue_date = ? AND state = 'pending'""", (issue,)).fetchone()
        in_flight = self._db.execute("""
            SELECT count(*) FROM deliveries
            WHERE issue_date = ? AND state IN ('claimed', 'sending')""", (issue,)).fetchone()[0]
        return Outstanding(pending, in_flight, next_due)

    def counts(self, issue: str) -> dict[str, int]:
        """Rows per state for one issue (every state present, zero when none)."""
        counts = dict.fromkeys(STATES, 0)
        for state, count in self._db.execute(
                "SELECT state, count(*) FROM deliveries WHERE issue_date = ? GROUP BY state",
                (issue,)):
            counts[state] = count
        counts["in_doubt"] = self._db.execute(
            "SELECT count(*) FROM deliveries WHERE issue_date = ? AND in_doubt = 1",
            (issue,)).fetchone()[0]
        return counts

    def rows(self, issue: str, state: str | None = None, *,
             in_doubt: bool = False) -> Iterator[tuple[str, str, int, str | None]]:
        """Stream (email, state, attempts, reply) of one issue, filtered by state or in_doubt."""
        sql = "SELECT email, state, attempts, reply FROM deliveries WHERE issue_date = ?"
        params: list[object] = [issue]
        if state:
            sql += " AND state = ?"
            params.append(state)
        if in_doubt:
            sql += " AND in_doubt = 1"
        yield from self._db.execute(sql + " ORDER BY email", params)

    # -- moving a list --------------------------------------------------------------------------

    def dump(self) -> Generator[tuple[str, Row], None, None]:
        """(table, row) of every row in key order, read in one transaction (one snapshot)."""
        self._db.execute("BEGIN")
        try:
            for table, columns in TABLES.items():
                for row in self._db.execute(f"SELECT {', '.join(columns)} FROM {table} "
                                            f"ORDER BY {columns[0]}, {columns[1]}"):
                    yield table, row
        finally:
            self._db.execute("COMMIT")

    def load(self, rows: Iterable[tuple[str, Row]]) -> dict[str, int]:
        """Rows as `dump` yields them (ids kept) into this empty store, in one transaction."""
        loaded = dict.fromkeys(TABLES, 0)
        with self._write() as db:
            found = db.execute("SELECT (SELECT count(*) FROM subscribers), "
                               "(SELECT count(*) FROM deliveries)").fetchone()
            if any(found):
                raise DeliveryError(f"is not empty: {found[0]} subscriber(s), {found[1]} "
                                    "ledger row(s)", path=self.path, code="not-empty",
                                    hint="copy into a new, empty database")
            for table, group in groupby(rows, key=itemgetter(0)):
                columns = TABLES[table]
                before = db.total_changes
                db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) "
                               f"VALUES ({', '.join('?' * len(columns))})",
                               (row for _, row in group))
                loaded[table] += db.total_changes - before
        return loaded
