"""Send processes on the SQLite ledger: recovery, leases, the pace, failed rows sent again.

A part of `SQLiteStore` (a mixin, kept apart to keep each module readable). On SQLite one
process sends at a time (`send_lock`, an flock), so a row left claimed or sending when a run
starts belongs to a dead run and `recover` takes them all back, as it always has. Leases are
still recorded, so `newsletter status` shows the running process and what it has done, and
the methods keep the contract PostgreSQL's share (store/pg_workers.py): the rows of a lease
that ran out are taken over, a connection that gave up its identity hands its rows back.
The clock is this machine's: every process that opens the file runs on it.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from newsletter.store.base import WORKER_STATES, WorkerStatus, stamp

IN_DOUBT_REPLY = "in doubt: in flight when a run stopped; sent again"
FORGET_AFTER = 86_400.0  # seconds after its end a lease row is deleted
# A ledger row's owner is "<lease id>/<connection>": its lease is the part before the "/".
_LEASE_OF = "substr(worker, 1, instr(worker, '/') - 1)"
_OWNER_LOST = f"""NOT EXISTS (SELECT 1 FROM workers w WHERE w.id = {_LEASE_OF}
                                 AND w.stopped = 0 AND w.lease_until >= :now)"""
_OWNED_BY = "worker = :worker"


class SQLiteWorkers:
    """Recovery, leases and the shared pace of `SQLiteStore`."""

    shared = False  # one process at a time: the send lock
    _db: sqlite3.Connection

    if TYPE_CHECKING:
        def _write(self) -> AbstractContextManager[sqlite3.Connection]: ...
        def _update(self, sql: str, parameters: tuple | dict[str, object]) -> int: ...

    def recover(self, issue: str) -> int:
        """After a dead run (call under `send_lock`): rows back to pending; returns in-doubt count.

        Rows in 'sending' were in flight when the run died; they are marked in_doubt so the
        status report can name them. Claimed rows were never pushed and just go back. The
        dead run's lease, if it left one, is marked lost.
        """
        with self._write() as db:
            in_doubt = db.execute("""
                UPDATE deliveries SET state = 'pending', in_doubt = 1, worker = NULL,
                    reply = ?, updated_at = ?
                WHERE issue_date = ? AND state = 'sending'""",
                (IN_DOUBT_REPLY, stamp(), issue)).rowcount
            db.execute("""UPDATE deliveries SET state = 'pending', worker = NULL
                          WHERE issue_date = ? AND state = 'claimed'""", (issue,))
            db.execute("UPDATE workers SET stopped = 2 WHERE issue_date = ? AND stopped = 0",
                       (issue,))
            return in_doubt

    def _give_back(self, issue: str, owner: str, params: dict[str, object]) -> int:
        """Rows whose owner matches `owner` (SQL) back to pending; the in-doubt count."""
        params = {"issue": issue, "reply": IN_DOUBT_REPLY, "when": stamp(), **params}
        with self._write() as db:
            in_doubt = db.execute(f"""
                UPDATE deliveries SET state = 'pending', in_doubt = 1, worker = NULL,
                    reply = :reply, updated_at = :when
                WHERE issue_date = :issue AND state = 'sending' AND {owner}""",
                params).rowcount
            db.execute(f"""UPDATE deliveries SET state = 'pending', worker = NULL
                           WHERE issue_date = :issue AND state = 'claimed' AND {owner}""",
                       params)
            if "now" in params:
                db.execute("""UPDATE workers SET stopped = 2 WHERE issue_date = :issue
                              AND stopped = 0 AND lease_until < :now""", params)
            return in_doubt

    def take_over(self, issue: str) -> int:
        """Rows of leases that ran out back to pending (in-flight ones in doubt): their count."""
        return self._give_back(issue, _OWNER_LOST, {"now": time.time()})

    def abandon(self, issue: str, worker: str) -> int:
        """The rows of one owner, which will not touch them again, back to pending."""
        return self._give_back(issue, _OWNED_BY, {"worker": worker})

    def retry_failed(self, issue: str) -> int:
        """Failed rows back to pending (attempts from 0) unless their reader left or bounced."""
        return self._update("""
            UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = 0,
                worker = NULL, updated_at = ?
            WHERE issue_date = ? AND state = 'failed'
              AND subscriber_id IN (SELECT id FROM subscribers WHERE status = 'active')""",
            (stamp(), issue))

    def register_worker(self, lease: str, issue: str, host: str, pid: int,
                        seconds: float) -> None:
        """A new lease, valid for `seconds`; leases that ended a day ago are forgotten."""
        now = time.time()
        with self._write() as db:
            db.execute("DELETE FROM workers WHERE lease_until < ?", (now - FORGET_AFTER,))
            db.execute("""INSERT INTO workers (id, issue_date, host, pid, started_at,
                              heartbeat_at, lease_until) VALUES (?, ?, ?, ?, ?, ?, ?)""",
                       (lease, issue, host, pid, now, now, now + seconds))
            db.execute("INSERT INTO send_pace (issue_date) VALUES (?) "
                       "ON CONFLICT (issue_date) DO NOTHING", (issue,))

    def renew_worker(self, lease: str, seconds: float, sent: int, failed: int, *,
                     stopped: bool = False) -> None:
        """The heartbeat: `seconds` more (or the end, `stopped`), and the counts so far."""
        now = time.time()
        self._update("""UPDATE workers SET heartbeat_at = ?, lease_until = ?, sent = ?,
                            failed = ?, stopped = ? WHERE id = ?""",
                     (now, now if stopped else now + seconds, sent, failed, int(stopped),
                      lease))

    def workers(self, issue: str) -> list[WorkerStatus]:
        """The issue's live and lost workers, oldest first (a lease that ran out is lost)."""
        now = time.time()
        return [WorkerStatus(wid, host, pid, now - beat, sent, failed,
                             "lost" if lease_until < now else WORKER_STATES[stopped])
                for wid, host, pid, beat, lease_until, sent, failed, stopped in self._db.execute(
                    """SELECT id, host, pid, heartbeat_at, lease_until, sent, failed, stopped
                       FROM workers WHERE issue_date = ? AND stopped <> 1
                       ORDER BY started_at, id""", (issue,))]

    def pace(self, issue: str, interval: float) -> float:
        """Reserve the issue's next send slot: the seconds to wait for it."""
        now = time.time()
        with self._write() as db:
            db.execute("INSERT INTO send_pace (issue_date) VALUES (?) "
                       "ON CONFLICT (issue_date) DO NOTHING", (issue,))
            (slot,), = db.execute("""UPDATE send_pace SET next_slot = max(next_slot, ?) + ?
                                     WHERE issue_date = ? RETURNING next_slot""",
                                  (now, interval, issue)).fetchall()
        return float(slot) - interval - now
