"""A send process's lease on the ledger rows it works on, and riding out a database restart.

Every `newsletter send` process registers a lease, a `workers` row named host:pid:random,
and a heartbeat thread renews it every few seconds (a third of the lease, at most 5 s) with
what the process has done so far, for `newsletter status`. Its connections own the rows they
claim as "<lease>/<n>". A process that dies stops renewing; once its lease has run out
(`delivery.lease_seconds`, default 30 s) the heartbeat of any other process sending the
issue takes its rows over (PostgreSQL): claimed rows go back to pending, rows in flight too,
marked in doubt. So a machine lost in the middle of a send is finished by the others, within
the lease and one heartbeat.

A connection that loses the database (a restart, a failover) waits with backoff and
reconnects under a new name, first handing back the rows of its old one (`Store.abandon`):
it cannot know which of its last commits arrived, so its row in flight is sent again and
reported in doubt. It gives up after `OUTAGE_LIMIT` seconds without the database.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable

from newsletter.delivery.pacing import backoff
from newsletter.delivery.report import SendReport
from newsletter.errors import DeliveryError, UsageError
from newsletter.store.base import Store

LEASE_SECONDS = 30.0
LEASE_ENV = "NEWSLETTER_LEASE_SECONDS"
LEASE_BOUNDS = (1.0, 3600.0)
HEARTBEAT_MAX = 5.0  # seconds between renewals, whatever the lease
OUTAGE_LIMIT = 120.0  # seconds a worker waits for a database that went away, then gives up
UNREACHABLE = "database-unreachable"  # the code of the store's errors for a lost connection


def lease_seconds(settings: object) -> float:
    """$NEWSLETTER_LEASE_SECONDS, else `delivery.lease_seconds`, else 30 s; UsageError if odd."""
    text = os.environ.get(LEASE_ENV, "").strip()
    if not text:
        return float(getattr(settings, "lease_seconds", LEASE_SECONDS))
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    low, high = LEASE_BOUNDS
    if not low <= value <= high:  # also false for nan
        raise UsageError(f"${LEASE_ENV} is {text!r}: the lease must be {low:.0f} to "
                         f"{high:.0f} seconds", hint="unset it for the default, 30 s")
    return value


def unreachable(error: BaseException | None) -> bool:
    """The store lost its database (it may come back), as opposed to a mistake to report."""
    return isinstance(error, DeliveryError) and error.code == UNREACHABLE


class Reconnect:
    """Backoff between attempts to reach the database again; gives up after `limit` seconds."""

    def __init__(self, limit: float = OUTAGE_LIMIT) -> None:
        self.limit = limit
        self._since: float | None = None
        self._attempts = 0

    def reached(self) -> None:
        """The database answered: the next outage starts from the shortest wait."""
        self._since, self._attempts = None, 0

    def wait(self, stop: threading.Event, error: DeliveryError) -> None:
        """Sleep before the next attempt; re-raise `error` once the outage lasts too long."""
        now = time.monotonic()
        if self._since is None:
            self._since = now
        if stop.is_set() or now - self._since >= self.limit:
            raise error
        self._attempts += 1
        stop.wait(backoff(self._attempts, 0.25, 5.0))


class Lease:
    """This process's lease: registered, renewed by a heartbeat thread, ended by `stop`."""

    def __init__(self, issue: str, seconds: float, open_store: Callable[[], Store],
                 report: SendReport) -> None:
        self.issue, self.seconds = issue, seconds
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.id = f"{self.host}:{self.pid}:{secrets.token_hex(3)}"
        self.interval = min(HEARTBEAT_MAX, seconds / 3)
        self._open_store = open_store
        self._report = report
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="heartbeat", daemon=True)

    def worker(self, index: int, generation: int = 0) -> str:
        """The name connection `index` owns rows by; a new one after each reconnection."""
        return f"{self.id}/{index}" + (f".{generation}" if generation else "")

    def start(self, store: Store) -> None:
        """Register the lease (on the caller's store) and start renewing it."""
        store.register_worker(self.id, self.issue, self.host, self.pid, self.seconds)
        self._thread.start()

    def stop(self) -> None:
        """End the lease (stopped: its rows are free at once); waits for the heartbeat."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self.interval + 15)

    def _counts(self) -> tuple[int, int]:
        return self._report.sent, self._report.failed + self._report.bounced

    def _beat(self) -> None:
        store: Store | None = None
        failures = 0
        stopping = False
        while not stopping:
            pause = backoff(failures, 0.25, self.interval) if failures else self.interval
            stopping = self._stop.wait(pause)
            try:
                store = store or self._open_store()
                store.renew_worker(self.id, self.seconds, *self._counts(), stopped=stopping)
                if not stopping and store.shared:
                    self._report.add_in_doubt(store.take_over(self.issue))
                failures = 0
            except DeliveryError as exc:
                if store is not None:
                    store.close()
                store = None
                if not unreachable(exc):
                    return  # the lease runs out by itself; the send goes on without it
                failures += 1
        if store is not None:
            store.close()
