"""Send processes on the PostgreSQL ledger: leases, takeover, the shared pace, retries.

A part of `PostgresStore` (a mixin, kept apart to keep each module readable). Any number of
`newsletter send` processes, on any machines, work on one issue at once. Each holds a lease,
a `workers` row it renews every few seconds; its connections own the ledger rows they claim
as "<lease id>/<n>". A lease that runs out (a machine lost, a process killed) frees its rows:
whoever looks next (`take_over`, from every process's heartbeat) puts its claimed rows back
to pending and its rows in flight back too, marked in doubt, since the server may have had
them. Rows are taken ``FOR UPDATE SKIP LOCKED``: two takeovers never wait for or collide
with each other, and a row a live worker is updating is left for the next look.

Every time here is the database's clock (``clock_timestamp()``), not the machine's, so
leases and the rate limit hold across machines whose clocks disagree.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

import psycopg

from newsletter.store.base import WORKER_STATES, WorkerStatus, stamp

IN_DOUBT_REPLY = "in doubt: in flight when a run stopped; sent again"
FORGET_AFTER = 86_400.0  # seconds after its end a lease row is deleted
_NOW = "extract(epoch FROM clock_timestamp())"
_OWNER_LOST = f"""NOT EXISTS (SELECT 1 FROM workers w WHERE w.id = split_part(d.worker, '/', 1)
                                 AND w.stopped = 0 AND w.lease_until >= {_NOW})"""
_OWNED_BY = "d.worker = %(worker)s"
_GIVE_BACK = """
    WITH freed AS (
        SELECT d.subscriber_id, d.state AS was FROM deliveries d
        WHERE d.issue_date = %(issue)s AND d.state IN ('claimed', 'sending') AND {owner}
        FOR UPDATE OF d SKIP LOCKED),
    moved AS (
        UPDATE deliveries d SET state = 'pending', worker = NULL,
            in_doubt = CASE WHEN freed.was = 'sending' THEN 1 ELSE d.in_doubt END,
            reply = CASE WHEN freed.was = 'sending' THEN %(reply)s ELSE d.reply END,
            updated_at = CASE WHEN freed.was = 'sending' THEN %(when)s ELSE d.updated_at END
        FROM freed WHERE d.issue_date = %(issue)s AND d.subscriber_id = freed.subscriber_id
        RETURNING freed.was)
    SELECT count(*) FILTER (WHERE was = 'sending') FROM moved"""
_MARK_LOST = f"""
    UPDATE workers SET stopped = 2 WHERE id IN (
        SELECT id FROM workers WHERE issue_date = %(issue)s AND stopped = 0
          AND lease_until < {_NOW}
        FOR UPDATE SKIP LOCKED)"""
_PACE = f"""
    UPDATE send_pace SET next_slot = greatest(next_slot, {_NOW}) + %(interval)s
    WHERE issue_date = %(issue)s
    RETURNING next_slot - %(interval)s - {_NOW}"""
_PACE_ROW = "INSERT INTO send_pace (issue_date) VALUES (%s) ON CONFLICT (issue_date) DO NOTHING"


class PgWorkers:
    """Leases, takeover and the shared pace of `PostgresStore`."""

    shared = True  # many processes send at once: leases decide who owns a row

    if TYPE_CHECKING:
        def _transaction(self) -> AbstractContextManager[psycopg.Cursor[Any]]: ...
        def _execute(self, sql: str, params: Any = None) -> psycopg.Cursor[Any]: ...
        def _update(self, sql: str, params: Any) -> int: ...
        def _value(self, sql: str, params: Any = None) -> Any: ...

    @contextmanager
    def send_lock(self) -> Iterator[None]:
        """Nothing to hold: any number of processes send at once, each under its own lease."""
        yield

    def recover(self, issue: str) -> int:
        """At the start of a run: the rows of lost workers back (`take_over`); in doubt count.

        Not every row in flight, as on SQLite: other processes may be sending right now.
        """
        return self.take_over(issue)

    def _give_back(self, owner: str, params: dict[str, object]) -> int:
        params = {"reply": IN_DOUBT_REPLY, "when": stamp(), **params}
        with self._transaction() as cursor:
            cursor.execute(_GIVE_BACK.format(owner=owner), params)
            in_doubt = int((cursor.fetchone() or (0,))[0])
            if owner == _OWNER_LOST:
                cursor.execute(_MARK_LOST, params)
        return in_doubt

    def take_over(self, issue: str) -> int:
        """Rows of leases that ran out back to pending (in-flight ones in doubt): their count."""
        return self._give_back(_OWNER_LOST, {"issue": issue})

    def abandon(self, issue: str, worker: str) -> int:
        """The rows of one owner, which will not touch them again, back to pending."""
        return self._give_back(_OWNED_BY, {"issue": issue, "worker": worker})

    def retry_failed(self, issue: str) -> int:
        """Failed rows back to pending (attempts from 0) unless their reader left or bounced."""
        return self._update("""
            UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = 0,
                worker = NULL, updated_at = %s
            WHERE issue_date = %s AND state = 'failed'
              AND subscriber_id IN (SELECT id FROM subscribers WHERE status = 'active')""",
            (stamp(), issue))

    def register_worker(self, lease: str, issue: str, host: str, pid: int,
                        seconds: float) -> None:
        """A new lease, valid for `seconds`; leases that ended a day ago are forgotten."""
        with self._transaction() as cursor:
            cursor.execute(f"DELETE FROM workers WHERE lease_until < {_NOW} - %s",
                           (FORGET_AFTER,))
            cursor.execute(f"""
                INSERT INTO workers (id, issue_date, host, pid, started_at, heartbeat_at,
                                     lease_until)
                VALUES (%(id)s, %(issue)s, %(host)s, %(pid)s, {_NOW}, {_NOW},
                        {_NOW} + %(seconds)s)""",
                           {"id": lease, "issue": issue, "host": host, "pid": pid,
                            "seconds": seconds})
            cursor.execute(_PACE_ROW, (issue,))

    def renew_worker(self, lease: str, seconds: float, sent: int, failed: int, *,
                     stopped: bool = False) -> None:
        """The heartbeat: `seconds` more (or the end, `stopped`), and the counts so far."""
        self._update(f"""
            UPDATE workers SET heartbeat_at = {_NOW}, lease_until = {_NOW} + %(seconds)s,
                sent = %(sent)s, failed = %(failed)s, stopped = %(stopped)s
            WHERE id = %(id)s""",
            {"seconds": 0 if stopped else seconds, "sent": sent, "failed": failed,
             "stopped": int(stopped), "id": lease})

    def workers(self, issue: str) -> list[WorkerStatus]:
        """The issue's live and lost workers, oldest first (a lease that ran out is lost)."""
        rows = self._execute(f"""
            SELECT id, host, pid, {_NOW} - heartbeat_at, lease_until < {_NOW}, sent, failed,
                   stopped
            FROM workers WHERE issue_date = %s AND stopped <> 1
            ORDER BY started_at, id""", (issue,)).fetchall()
        return [WorkerStatus(wid, host, pid, float(age), sent, failed,
                             "lost" if expired else WORKER_STATES[stopped])
                for wid, host, pid, age, expired, sent, failed, stopped in rows]

    def pace(self, issue: str, interval: float) -> float:
        """Reserve the issue's next send slot (all processes share it): seconds to wait."""
        params = {"issue": issue, "interval": interval}
        row = self._execute(_PACE, params).fetchone()
        if row is None:  # no process registered for this issue yet
            self._update(_PACE_ROW, (issue,))
            row = self._execute(_PACE, params).fetchone()
        return float(row[0]) if row else 0.0
