"""Subscriber import and `db copy` into PostgreSQL, whole process, beside the same into SQLite.

    python -m bench.pg_import_bench                 # 100,000 rows, 5 runs each
    python -m bench.pg_import_bench --rows 20000 --runs 2

A throwaway server is started (tests/support/postgres.py, with fsync on, as a real one runs)
and stopped at the end; each run gets a new empty schema. Each figure is one
`newsletter` process from fork to exit: start-up, reading and checking the CSV, the COPY into
a temporary table, the upsert, the commit (for `db copy`: both tables, counted together).
Target: at least 50,000 rows/s into PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from newsletter.store.sqlite import SQLiteStore
from tests.support.postgres import PostgresServer

TARGET = 50_000
NAMES = ("Ada Lovelace", "Zoë Ångström", 'Grace "Amazing" Hopper', "", "Edsger W. Dijkstra")


def write_csv(path: Path, count: int) -> Path:
    """The CSV bench/delivery_bench.py imports: email,name with quoted, accented names."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write("email,name\n")
        for index in range(count):
            name = NAMES[index % len(NAMES)].replace('"', '""')
            handle.write(f'reader{index}@example.org,"{name}"\n')
    return path


# `newsletter` itself, with `db` in the registry whether or not cli/__init__.py lists it yet.
LAUNCHER = ("import sys; from newsletter.cli import COMMANDS, main; "
            "COMMANDS.setdefault('db', 'db:db'); sys.argv[0] = 'newsletter'; main()")


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Seconds of one `newsletter ARGS` process; it must succeed."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", LAUNCHER, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"bench: newsletter {' '.join(args)} failed:\n{done.stderr}")
    return seconds


@contextmanager
def postgres() -> Iterator[PostgresServer]:
    """A throwaway server on 127.0.0.1, durable like a real one; always stopped."""
    server = PostgresServer(durable=True)
    try:
        yield server.start()
    finally:
        server.stop()


def report(name: str, count: int, samples: list[float]) -> float:
    rates = [count / seconds for seconds in samples]
    median = statistics.median(rates)
    print(f"{name:<48} {median:>9,.0f} rows/s  (min {min(rates):,.0f}, max {max(rates):,.0f}, "
          f"{len(rates)} runs)")
    return median


def run(rows: int, runs: int) -> dict[str, float]:
    """Measure, print and return the medians in rows/s."""
    folder = Path(tempfile.mkdtemp(prefix="newsletter-pgbench-"))
    try:
        return _measure(folder, rows, runs)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _measure(folder: Path, rows: int, runs: int) -> dict[str, float]:
    (folder / "newsletter.toml").write_text('title = "Bench"\n', encoding="utf-8")
    csv_file = write_csv(folder / "readers.csv", rows)
    base = {key: value for key, value in os.environ.items()
            if not key.startswith("NEWSLETTER_")}
    figures: dict[str, float] = {}
    with postgres() as server:
        lite, first, again, copied = [], [], [], []
        for number in range(runs):
            database = folder / f"run{number}.sqlite3"
            lite.append(timed(["subscribers", "import", str(csv_file)], folder,
                              {**base, "NEWSLETTER_DATABASE_URL": str(database)}))
            env = {**base, **server.env(), "NEWSLETTER_DATABASE_URL": server.create_schema()}
            first.append(timed(["subscribers", "import", str(csv_file)], folder, env))
            again.append(timed(["subscribers", "import", str(csv_file)], folder, env))
            with SQLiteStore(database) as store:  # a ledger row per subscriber, to copy too
                store.enqueue("2025-11-28")
            copied.append(timed(["db", "copy", str(database), server.create_schema()], folder,
                                {**base, **server.env()}))
        print(f"{rows:,} CSV rows, whole process, median of {runs}:")
        figures["sqlite"] = report("subscribers import into SQLite", rows, lite)
        figures["postgresql"] = report("subscribers import into PostgreSQL", rows, first)
        figures["again"] = report("the same import again (all unchanged)", rows, again)
        figures["copy"] = report("db copy into PostgreSQL, and a ledger row each",
                                 2 * rows, copied)
    verdict = "met" if figures["postgresql"] >= TARGET else "MISSED"
    print(f"target >= {TARGET:,} rows/s into PostgreSQL: {verdict}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pg_import_bench",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    run(args.rows, args.runs)


if __name__ == "__main__":
    main()
