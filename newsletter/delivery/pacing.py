"""The pace of a send: exponential backoff between retries, and a rate limit over all workers."""

from __future__ import annotations

import threading
import time
from typing import Protocol


def backoff(attempts: int, base: float, cap: float) -> float:
    """Seconds to wait after the n-th failed attempt: base, 2 base, 4 base ... at most cap."""
    return min(cap, base * 2 ** max(attempts - 1, 0))


class Pace(Protocol):
    """Where slots shared by several processes come from (the store: `Store.pace`)."""

    def pace(self, issue: str, interval: float) -> float: ...


class RateLimiter:
    """At most `rate` messages per second over all workers (0: no limit).

    The workers of this process share a slot clock in memory. After `share(issue)` the
    slots come from the database instead (`wait` given the worker's store), one statement a
    message, so the limit holds over every process sending the issue, on any machine.
    """

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self.issue: str | None = None
        self._next = 0.0
        self._lock = threading.Lock()

    def share(self, issue: str) -> None:
        """Take slots from the database's pace of `issue` from now on."""
        self.issue = issue

    def wait(self, stop: threading.Event, pace: Pace | None = None) -> None:
        if not self.interval:
            return
        if self.issue is not None and pace is not None:
            delay = pace.pace(self.issue, self.interval)
        else:
            with self._lock:
                now = time.monotonic()
                slot = max(now, self._next)
                self._next = slot + self.interval
            delay = slot - now
        if delay > 0:
            stop.wait(delay)


BATCH_SECONDS = 1.0  # a worker claims about this much of its own work at a time
FIRST_BATCH = 10  # before it knows its pace


class BatchSizer:
    """How many rows a worker claims: about a second of its own work, at most `limit`.

    Against a slow server (a remote provider answering in 50 ms) a batch of `limit` rows
    would hold several seconds of work: the other workers would sit idle at the end while
    one finishes its last batch, and a lost worker would leave that much for its lease to
    free. The pace is each worker's own, measured over its batches so far.
    """

    def __init__(self, limit: int, seconds: float = BATCH_SECONDS) -> None:
        self.limit, self.seconds = limit, seconds
        self._per_message: float | None = None

    def size(self) -> int:
        if self._per_message is None:
            return min(self.limit, FIRST_BATCH)
        return max(1, min(self.limit, int(self.seconds / max(self._per_message, 1e-6))))

    def observe(self, messages: int, elapsed: float) -> None:
        """A batch of `messages` took `elapsed` seconds (rate-limit waits included)."""
        if messages <= 0:
            return
        pace = elapsed / messages
        self._per_message = pace if self._per_message is None else \
            (self._per_message + pace) / 2
