"""Timing helpers: medians with min and max, whole processes and in-process calls."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
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
