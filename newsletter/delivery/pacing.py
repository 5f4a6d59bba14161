"""The pace of a send: exponential backoff between retries, and a rate limit over all workers."""

from __future__ import annotations

import threading
import time


def backoff(attempts: int, base: float, cap: float) -> float:
    """Seconds to wait after the n-th failed attempt: base, 2 base, 4 base ... at most cap."""
    return min(cap, base * 2 ** max(attempts - 1, 0))


class RateLimiter:
    """At most `rate` messages per second over all workers (0: no limit)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self, stop: threading.Event) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            stop.wait(slot - now)
