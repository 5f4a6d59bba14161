"""Timing helpers: medians with min and max, whole processes and in-process calls."""

from __future__ import annotations

import os
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Figure:
    """One measured row: a median with its spread, in the unit given."""

    name: str
    unit: str
    median: float
    low: float
    high: float
    runs: int
    note: str = ""
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def summarize(name: str, unit: str, samples: Sequence[float], note: str = "") -> Figure:
    return Figure(name, unit, statistics.median(samples), min(samples), max(samples),
                  len(samples), note)


def time_call(function: Callable[[], object], runs: int, warmup: int = 3) -> list[float]:
    """Milliseconds per call."""
    for _ in range(warmup):
        function()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def time_process(command: Sequence[str], runs: int, cwd: Path | None = None,
                 env: dict | None = None, warmup: int = 1) -> list[float]:
    """Milliseconds per whole process, from fork to exit; fails loudly on a non-zero exit."""
    full_env = {**os.environ, **(env or {})}
    for _ in range(warmup):
        subprocess.run(command, cwd=cwd, env=full_env, check=True, capture_output=True)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, cwd=cwd, env=full_env, check=True, capture_output=True)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


@contextmanager
def duplicate_window(store_class: type) -> Iterator[list[float]]:
    """Microseconds from each server reply to the commit that records it as sent.

    Wraps the SMTP transport's send and `store_class`'s two "sent" commits for the block; the
    list fills as messages go out. A kill -9 inside this window is the only way a reader can
    get an issue twice.
    """
    from newsletter.delivery.transports.smtp import SMTPTransport

    replied: dict[int, float] = {}
    windows: list[float] = []
    originals = SMTPTransport.send, store_class.mark_sent, store_class.mark_sent_and_start

    def timed_send(self, envelope):
        reply = originals[0](self, envelope)
        replied[threading.get_ident()] = time.perf_counter()
        return reply

    def recorded(record):
        def timed(self, issue, subscriber_id, reply, *rest):
            result = record(self, issue, subscriber_id, reply, *rest)
            windows.append((time.perf_counter() - replied[threading.get_ident()]) * 1e6)
            return result
        return timed

    SMTPTransport.send = timed_send  # type: ignore[method-assign]
    store_class.mark_sent, store_class.mark_sent_and_start = map(recorded, originals[1:])
    try:
        yield windows
    finally:
        SMTPTransport.send, store_class.mark_sent, store_class.mark_sent_and_start = originals
