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
