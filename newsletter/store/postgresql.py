"""The PostgreSQL backend of the store: the protocol and semantics of SQLite's, on a server.

One connection per instance (one instance per thread), in autocommit mode: each ledger change
is one statement, or a short transaction where two go together. `claim_batch` takes rows
``FOR UPDATE SKIP LOCKED``: workers in several processes get disjoint batches without
waiting; any number of send processes, on any machines, share the ledger, each holding a
lease (store/pg_workers.py). Imports COPY into a temporary table and upsert from it in one
statement (store/pg_bulk.py). Streaming queries read a server-side cursor WITH HOLD, a chunk
at a time, with no transaction left open.
psycopg is imported only here, and this module only for a ``postgresql://`` URL. Errors name
the database by its URL with the password masked, and scrub the password from libpq's text.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from newsletter.errors import DeliveryError
from newsletter.store.base import STATES, Claim, Outstanding, Subscriber, stamp
from newsletter.store.bounce_events import BounceEvents
from newsletter.store.links import SubscriberLinks
from newsletter.store.migrations import latest, pending
from newsletter.store.pg_bulk import PgBulk
from newsletter.store.pg_workers import PgWorkers
from newsletter.store.urls import MASK, mask_password, passwords

# The advisory lock of migrations: (a fixed 32-bit key, the schema's hash), since one database
# may hold the tables of several lists, each in its own schema.
_MIGRATE_KEY = 0x6E6C_6D67  # "nlmg"
_OF_SCHEMA = "%s, hashtext(current_schema())"
_CHUNK = 2000  # rows fetched per round trip by the streaming queries

# In the order of the queue index (schema v5): it reads no more than the batch.
CLAIM = """
    WITH batch AS (
        SELECT subscriber_id FROM deliveries
        WHERE issue_date = %(issue)s AND state = 'pending' AND next_attempt_at <= %(now)s
        ORDER BY next_attempt_at, subscriber_id LIMIT %(n)s
        FOR UPDATE SKIP LOCKED),
    claimed AS (
        UPDATE deliveries d SET state = 'claimed', worker = %(worker)s, updated_at = %(when)s
        FROM batch WHERE d.issue_date = %(issue)s AND d.subscriber_id = batch.subscriber_id
        RETURNING d.subscriber_id, d.email, d.attempts, d.next_attempt_at)
    SELECT c.subscriber_id, c.email, s.name, s.status, c.attempts
    FROM claimed c JOIN subscribers s ON s.id = c.subscriber_id
    ORDER BY c.next_attempt_at, c.subscriber_id"""
_SENT_AND_START = """
    UPDATE deliveries SET
        state = CASE WHEN subscriber_id = %(sent)s THEN 'sent' ELSE 'sending' END,
        reply = CASE WHEN subscriber_id = %(sent)s THEN %(reply)s ELSE reply END,
        worker = CASE WHEN subscriber_id = %(sent)s THEN NULL ELSE worker END,
        updated_at = CASE WHEN subscriber_id = %(sent)s THEN %(now)s ELSE updated_at END,
        attempts = CASE WHEN subscriber_id = %(sent)s THEN attempts ELSE attempts + 1 END
    WHERE issue_date = %(issue)s AND subscriber_id IN (%(sent)s, %(next)s)
      AND (subscriber_id = %(sent)s OR (state = 'claimed' AND worker = %(worker)s))"""


class PostgresStore(PgWorkers, PgBulk, BounceEvents, SubscriberLinks):
    """The Store on a PostgreSQL database. One instance per thread (one connection each)."""

    path = Path()

    def __init__(self, url: str) -> None:
        self.url = mask_password(url)
        self._secrets = passwords(url)
        self._cursors = itertools.count(1)
        self._db = self._connect(url)
        try:
            self._migrate()
        except BaseException:
            self._db.close()
            raise

    def _connect(self, url: str) -> psycopg.Connection[Any]:
        try:
            params: dict[str, Any] | None = psycopg.conninfo.conninfo_to_dict(url)
        except psycopg.ProgrammingError:
            params = None
        if params is None or (self._secrets and not params.get("password")):
            # libpq's message would quote the URL; and where libpq finds no password but the
            # mask does, libpq reads a piece of it as the host or port, and would quote that.
            raise DeliveryError(f"{self.url}: not a valid PostgreSQL URL",
                                hint="write postgresql://user@host:port/database (a special "
                                     "character in a part is %-escaped, e.g. / as %2F)",
                                code="database-url")
        params.setdefault("connect_timeout", 10)
        params.setdefault("application_name", "newsletter")
        try:
            return psycopg.connect(psycopg.conninfo.make_conninfo("", **params), autocommit=True)
        except psycopg.Error as exc:
            # libpq's own hints come on lines of their own, indented; ours replaces them.
            reason = self._scrub(" ".join(line for line in str(exc).splitlines()
                                          if not line.startswith("\t")))
            raise DeliveryError(f"cannot connect to {self.url}: {reason}",
                                hint=_connect_hint(reason), code="database-unreachable") from None

    def _scrub(self, text: str) -> str:
        """`text` without the password, however libpq or the server quoted it."""
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return " ".join(text.split())

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """A lost connection becomes one line naming the database (never its password)."""
        try:
            yield
        except psycopg.OperationalError as exc:
            raise DeliveryError(f"lost the connection to {self.url}: {self._scrub(str(exc))}",
                                hint="run the same command again once the database is back",
                                code="database-unreachable") from None

    def _execute(self, sql: str, params: Any = None) -> psycopg.Cursor[Any]:
        with self._guard():
            return self._db.execute(sql, params)

    def _fetch(self, sql: str, params: Any) -> list[tuple[Any, ...]]:
        return self._execute(sql, params).fetchall()

    def _update(self, sql: str, params: Any) -> int:
        """One statement, committed on its own; the number of rows it changed."""
        return self._execute(sql, params).rowcount

    def _value(self, sql: str, params: Any = None) -> Any:
        return (self._execute(sql, params).fetchone() or (None,))[0]

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Cursor[Any]]:
        with self._guard(), self._db.transaction(), self._db.cursor() as cursor:
            yield cursor

    def _stream(self, sql: str, params: Any = None) -> Iterator[tuple[Any, ...]]:
        """Rows of a query, a chunk per round trip, through a cursor WITH HOLD."""
        with self._guard(), self._db.cursor(name=f"stream_{next(self._cursors)}",
                                            withhold=True) as cursor:
            cursor.itersize = _CHUNK
            cursor.execute(sql, params)
            yield from cursor

    def _migrate(self) -> None:
        if self._value("SELECT to_regclass('schema_version') IS NOT NULL") and \
                not pending(self.schema_version(), self.url):
            return
        try:
            with self._transaction() as cursor:
                # Two processes opening a new database at once: the second waits, sees v1.
                cursor.execute(f"SELECT pg_advisory_xact_lock({_OF_SCHEMA})", (_MIGRATE_KEY,))
                cursor.execute("CREATE TABLE IF NOT EXISTS schema_version "
                               "(version INTEGER NOT NULL)")
                cursor.execute("SELECT coalesce(max(version), 0) FROM schema_version")
                steps = pending(cursor.fetchone()[0], self.url)  # type: ignore[index]
                for statement in (text for step in steps for text in step.postgresql):
                    cursor.execute(statement)
                if steps:
                    cursor.execute("DELETE FROM schema_version")
                    cursor.execute("INSERT INTO schema_version (version) VALUES (%s)",
                                   (latest(),))
        except psycopg.DatabaseError as exc:  # tables of another program, no CREATE right
            raise DeliveryError(
                f"{self.url}: cannot make the tables of schema v{latest()}: "
                f"{self._scrub(str(exc))}", code="schema-failed",
                hint="give newsletter a database, or a schema (?options=-csearch_path%3DNAME), "
                     "of its own that its user may create tables in") from None

    def schema_version(self) -> int:
        return int(self._value("SELECT coalesce(max(version), 0) FROM schema_version"))

    def count_subscribers(self, status: str | None = None) -> int:
        if status is None:
            return int(self._value("SELECT count(*) FROM subscribers"))
        return int(self._value("SELECT count(*) FROM subscribers WHERE status = %s", (status,)))

    def subscriber(self, email: str | None = None, *, id: int | None = None) -> Subscriber | None:
        """One subscriber by address or by id."""
        column, value = ("id", id) if id is not None else ("email", email)
        row = self._execute(f"SELECT id, email, name, status FROM subscribers "
                            f"WHERE {column} = %s", (value,)).fetchone()
        return Subscriber(*row) if row else None

    def iter_subscribers(self, status: str | None = None) -> Iterator[Subscriber]:
        """Stream subscribers in id order, a chunk at a time, never the whole list."""
        sql = "SELECT id, email, name, status FROM subscribers"
        rows = (self._stream(sql + " WHERE status = %s ORDER BY id", (status,))
                if status else self._stream(sql + " ORDER BY id"))
        for row in rows:
            yield Subscriber(*row)

    def set_status(self, subscriber_id: int, status: str) -> None:
        self._update("UPDATE subscribers SET status = %s, updated_at = %s WHERE id = %s",
                     (status, stamp(), subscriber_id))

    def set_name(self, subscriber_id: int, name: str) -> None:
        self._update("UPDATE subscribers SET name = %s, updated_at = %s WHERE id = %s",
                     (name, stamp(), subscriber_id))

    def delete_subscriber(self, subscriber_id: int) -> None:
        """Forget an address entirely, with its ledger rows (erasure on request)."""
        self._update("DELETE FROM subscribers WHERE id = %s", (subscriber_id,))

    def enqueue(self, issue: str) -> int:
        """One pending row per active subscriber without a row yet; runs inside the database."""
        return self._update("""
            INSERT INTO deliveries (issue_date, subscriber_id, email, state, updated_at)
            SELECT %s, id, email, 'pending', %s FROM subscribers WHERE status = 'active'
            ON CONFLICT (issue_date, subscriber_id) DO NOTHING""", (issue, stamp()))

    def claim_batch(self, issue: str, worker: str, n: int, now: float) -> list[Claim]:
        """Hand up to n due pending rows to `worker` (pending -> claimed), in one statement.

        ``FOR UPDATE SKIP LOCKED``: concurrent workers get disjoint batches without waiting.
        """
        rows = self._execute(CLAIM, {"issue": issue, "now": now, "n": n, "worker": worker,
                                     "when": stamp(now)}).fetchall()
        return [Claim(*row) for row in rows]

    def release(self, issue: str, worker: str, subscriber_ids: Iterable[int]) -> None:
        """The worker's claimed rows that it never pushed go back to pending (only its own)."""
        ids = list(subscriber_ids)
        if ids:
            self._update("""UPDATE deliveries SET state = 'pending', worker = NULL
                            WHERE issue_date = %s AND subscriber_id = ANY(%s)
                              AND state = 'claimed' AND worker = %s""", (issue, ids, worker))

    def start_attempt(self, issue: str, worker: str, subscriber_id: int) -> bool:
        """Committed right before the message goes to the server: from here it is in flight.

        False if the row is no longer this worker's claim (then it must not be sent).
        """
        return self._update("""
            UPDATE deliveries SET state = 'sending', attempts = attempts + 1
            WHERE issue_date = %s AND subscriber_id = %s AND state = 'claimed'
              AND worker = %s""", (issue, subscriber_id, worker)) == 1

    def unstart(self, issue: str, subscriber_id: int) -> None:
        """The connection failed before any of the message went out: not an attempt after all."""
        self._update("""UPDATE deliveries SET state = 'claimed', attempts = attempts - 1
                        WHERE issue_date = %s AND subscriber_id = %s AND state = 'sending'""",
                     (issue, subscriber_id))

    def mark_sent(self, issue: str, subscriber_id: int, reply: str) -> None:
        """Committed right after the server's acceptance: the only window for a duplicate."""
        self._update("""UPDATE deliveries SET state = 'sent', reply = %s, worker = NULL,
                            updated_at = %s
                        WHERE issue_date = %s AND subscriber_id = %s""",
                     (reply, stamp(), issue, subscriber_id))

    def mark_sent_and_start(self, issue: str, subscriber_id: int, reply: str, worker: str,
                            next_id: int) -> bool:
        """`mark_sent` for one row and `start_attempt` for the next, in one statement.

        True if the next row is now in flight (it is still this worker's claim).
        """
        return self._update(_SENT_AND_START, {
            "sent": subscriber_id, "reply": reply, "now": stamp(), "issue": issue,
            "next": next_id, "worker": worker}) == 2

    def mark_retry(self, issue: str, subscriber_id: int, reply: str, at: float) -> None:
        self._update("""UPDATE deliveries SET state = 'pending', reply = %s, worker = NULL,
                            next_attempt_at = %s, updated_at = %s
                        WHERE issue_date = %s AND subscriber_id = %s""",
                     (reply, at, stamp(), issue, subscriber_id))

    def mark_failed(self, issue: str, subscriber_id: int, reply: str, *,
                    bounced: bool = False, state: str = "failed") -> None:
        """Permanent failure (or 'skipped'); a bounce also stops all later issues."""
        with self._transaction() as cursor:
            cursor.execute("""UPDATE deliveries SET state = %s, reply = %s, worker = NULL,
                                  updated_at = %s
                              WHERE issue_date = %s AND subscriber_id = %s""",
                           (state, reply, stamp(), issue, subscriber_id))
            if bounced:
                cursor.execute("""UPDATE subscribers SET status = 'bounced', updated_at = %s
                                  WHERE id = %s AND status = 'active'""",
                               (stamp(), subscriber_id))

    def recipients(self, issue: str) -> Iterator[Subscriber]:
        """Active subscribers this issue has not reached yet, streamed (for --dry-run)."""
        yield from (Subscriber(*row) for row in self._stream("""
            SELECT s.id, s.email, s.name, s.status FROM subscribers s
            LEFT JOIN deliveries d ON d.subscriber_id = s.id AND d.issue_date = %s
            WHERE s.status = 'active'
              AND (d.state IS NULL OR d.state IN ('pending', 'claimed', 'sending'))
            ORDER BY s.id""", (issue,)))

    def outstanding(self, issue: str) -> Outstanding:
        """What is left: decides whether a worker waits for a retry or stops."""
        pending_rows, next_due, in_flight = self._execute("""
            SELECT count(*) FILTER (WHERE state = 'pending'),
                   min(next_attempt_at) FILTER (WHERE state = 'pending'),
                   count(*) FILTER (WHERE state IN ('claimed', 'sending'))
            FROM deliveries WHERE issue_date = %s""", (issue,)).fetchone() or (0, None, 0)
        return Outstanding(pending_rows, in_flight, next_due)

    def counts(self, issue: str) -> dict[str, int]:
        """Rows per state for one issue (every state present, zero when none)."""
        counts = dict.fromkeys(STATES, 0)
        for state, count in self._execute("SELECT state, count(*) FROM deliveries "
                                          "WHERE issue_date = %s GROUP BY state", (issue,)):
            counts[state] = count
        counts["in_doubt"] = int(self._value(
            "SELECT count(*) FROM deliveries WHERE issue_date = %s AND in_doubt = 1", (issue,)))
        return counts

    def rows(self, issue: str, state: str | None = None, *,
             in_doubt: bool = False) -> Iterator[tuple[str, str, int, str | None]]:
        """Stream (email, state, attempts, reply) of one issue, filtered by state or in_doubt."""
        sql = "SELECT email, state, attempts, reply FROM deliveries WHERE issue_date = %s"
        params: list[object] = [issue]
        if state:
            sql += " AND state = %s"
            params.append(state)
        if in_doubt:
            sql += " AND in_doubt = 1"
        yield from self._stream(sql + ' ORDER BY email COLLATE "C"', params)


def _connect_hint(reason: str) -> str:
    if "password" in reason:
        return ("libpq reads the password from PGPASSWORD, ~/.pgpass (PGPASSFILE) or a "
                "service file; check it there")
    if "does not exist" in reason:
        return "create it first (createdb, or CREATE DATABASE / CREATE ROLE), or fix the URL"
    return "check the URL, and that the server is running and accepts connections from here"
