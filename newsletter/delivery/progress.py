"""Progress of a send: a bar with rate and ETA on a terminal, plain log lines otherwise."""

from __future__ import annotations

import threading
import time
from typing import TextIO


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """Counts finished messages (any thread) and shows them (from the main thread)."""

    WIDTH = 28

    def __init__(self, total: int, stream: TextIO | None, *, tty: bool | None = None,
                 every: int = 1000, seconds: float = 5.0) -> None:
        """Off a terminal, a line each `every` messages or each `seconds`, whichever is first."""
        self.total = total
        self.stream = stream
        self.tty = stream.isatty() if tty is None and stream is not None else bool(tty)
        self.every = every
        self.seconds = seconds
        self._logged_at = time.monotonic()
        self.done = 0
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self._logged = 0
        self._drawn = False

    def advance(self, count: int = 1) -> None:
        with self._lock:
            self.done += count

    def rate(self) -> float:
        elapsed = time.monotonic() - self._start
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        rate = self.rate()
        left = max(self.total - self.done, 0)
        eta = _clock(left / rate) if rate > 0 else "-:--:--"
        percent = 100 * self.done / self.total if self.total else 100.0
        return f"{self.done:,}/{self.total:,} ({percent:.0f}%), {rate:,.0f} msg/s, ETA {eta}"

    def refresh(self) -> None:
        """Redraw the bar, or write a log line each `every` messages or `seconds`."""
        if self.stream is None:
            return
        if self.tty:
            filled = self.WIDTH * self.done // self.total if self.total else self.WIDTH
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            self.stream.write(f"\r[{bar}] {self.line()} ")
            self.stream.flush()
            self._drawn = True
        elif self.done // self.every > self._logged // self.every or (
                self.done > self._logged
                and time.monotonic() - self._logged_at >= self.seconds):
            self._logged, self._logged_at = self.done, time.monotonic()
            self.stream.write(f"sent {self.line()}\n")
            self.stream.flush()

    def note(self, text: str) -> None:
        """A message between bar updates (the bar is redrawn on the next refresh)."""
        if self.stream is None:
            return
        if self._drawn:
            self.stream.write("\n")
            self._drawn = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.stream is None:
            return
        self.refresh()
        if self._drawn:
            self.stream.write("\n")
            self._drawn = False
        self.stream.flush()
