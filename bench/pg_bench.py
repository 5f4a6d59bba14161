"""PostgreSQL as the shared ledger: processes scaling, the send, its duplicate window, memory.

`python -m bench --only postgres` (part of `python -m bench`). A throwaway server is started
(tests/support/postgres.py, fsync on, as a real server runs; max_connections raised for four
processes of 16 connections each) and stopped at the end; each run gets a new schema.

- scaling: 1, 2 and 4 `newsletter send` processes started together on one issue, against a
  sink that answers each message 50 ms after its end (a remote provider's latency), each
  process with the default 4 connections; the time from their start until the ledger shows
  every reader sent. The sink (below) runs in a process of its own. Then 1 and 4 processes of
  16 connections each: on a 2-core machine that is bound by CPU, not by the ledger.
- send: one `newsletter send` (4 connections) into Postfix's smtp-sink with the ledger in
  PostgreSQL, against `smtp-source -s 8 -d` into the same sink, alternating in one run.
- duplicate window: in process, the time from the server's final reply to the commit that
  marks the row sent, for every message, as bench/delivery_bench.py measures it on SQLite.
- memory: peak RSS of one send process to 1,000 and to 100,000 readers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from unittest.mock import patch

import psycopg

from tests.support.postgres import PostgresServer

from .delivery_bench import (
    _LAUNCHER,
    DATE,
    free_port,
    message_size,
    newsletter_command,
    smtp_sink,
    smtp_source,
    wait_for_port,
    write_csv,
)
from .measure import Figure, duplicate_window, summarize

SCALING_CONNECTIONS = 4  # `delivery.connections`' default: what a worker process is
BUSY_CONNECTIONS = 16
SEND_CONNECTIONS = 4
LATENCY = 0.05  # seconds the scaling sink waits before answering a message


# -- a sink with a provider's latency -------------------------------------------------------


async def _session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   delay: float) -> None:
    writer.write(b"220 sink ESMTP\r\n")
    try:
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb == b"EHLO":
                writer.write(b"250-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                writer.write(b"354 go on\r\n")
                await writer.drain()
                await reader.readuntil(b"\r\n.\r\n")
                await asyncio.sleep(delay)
                writer.write(b"250 2.0.0 queued\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:  # HELO, MAIL, RCPT, RSET, NOOP
                writer.write(b"250 ok\r\n")
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def _serve(port: int, delay: float) -> None:
    server = await asyncio.start_server(lambda r, w: _session(r, w, delay), "127.0.0.1", port,
                                        limit=1 << 22)
    async with server:
        await server.serve_forever()


@contextmanager
def slow_sink(delay: float) -> Iterator[int]:
    """The sink above in a process of its own on a free loopback port; yields the port."""
    port = free_port()
    sink = subprocess.Popen([sys.executable, "-m", "bench.pg_bench", "sink", str(port),
                             str(delay)], cwd=Path(__file__).resolve().parents[1])
    try:
        wait_for_port(port, sink, "the slow sink")
        yield port
    finally:
        sink.terminate()
        sink.wait(10)


# -- the database and the processes ---------------------------------------------------------


@contextmanager
def postgres() -> Iterator[PostgresServer]:
    """A durable throwaway server with room for four processes of 16 connections."""
    server = PostgresServer(durable=True)
    try:
        server.start()
        with server.admin() as db:
            db.execute("ALTER SYSTEM SET max_connections = 200")
        # stop and start, not restart: a restart's server would keep the output pipe open
        server._run("pg_ctl", "-D", server.data, "-m", "fast", "-w", "-t", "60", "stop")
        server._run("pg_ctl", "-D", server.data, "-l", server.log, "-w", "-t", "60",
                    "-o", f"-p {server.port}", "start")
        with patch.dict(os.environ, server.env()):  # for this process's look at the ledger
            yield server
    finally:
        server.stop()


def environment(server: PostgresServer, url: str) -> dict[str, str]:
    base = {key: value for key, value in os.environ.items()
            if not key.startswith("NEWSLETTER_")}
    return {**base, **server.env(), "NEWSLETTER_DATABASE_URL": url}


def subscribed(root: Path, server: PostgresServer, count: int) -> tuple[str, dict[str, str]]:
    """A new schema with `count` subscribers imported; its URL and the environment for it."""
    url = server.create_schema()
    env = environment(server, url)
    csv_file = root / f"readers-{count}.csv"
    if not csv_file.exists():
        write_csv(csv_file, count)
    subprocess.run(newsletter_command("subscribers", "import", str(csv_file)), cwd=root,
                   env=env, check=True, capture_output=True)
    return url, env


def measured(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one whole process, which must succeed."""
    with tempfile.TemporaryFile() as output, tempfile.NamedTemporaryFile("r") as peak:
        done = subprocess.run([sys.executable, "-S", "-c", _LAUNCHER, peak.name, *command],
                              cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT)
        if done.returncode != 0:
            output.seek(0)
            raise SystemExit(f"bench: {' '.join(command)} failed ({done.returncode}):\n"
                             f"{output.read().decode(errors='replace')}")
        elapsed, kilobytes = peak.read().split()
        return float(elapsed), int(kilobytes) / 1024


def send_command(port: int, connections: int) -> list[str]:
    # --force: the bundled issue repeats a paper, which `newsletter check` reports.
    return newsletter_command("send", "--date", DATE, "--transport", "smtp", "--force",
                              "--smtp-url", f"smtp://127.0.0.1:{port}", "--connections",
                              str(connections))


def check_sent(url: str, count: int) -> None:
    with psycopg.connect(url, autocommit=True) as db:
        row = db.execute("SELECT count(*) FILTER (WHERE state = 'sent'), count(*) "
                         "FROM deliveries WHERE issue_date = %s", (DATE,)).fetchone()
    if row != (count, count):
        raise SystemExit(f"bench: the send did not reach everyone: {row} of {count}")


# -- the figures ----------------------------------------------------------------------------


def _all_sent_after(url: str, count: int, started: float,
                    processes: list[subprocess.Popen]) -> float:
    """Seconds from `started` until the ledger shows `count` rows sent."""
    with psycopg.connect(url, autocommit=True) as db:
        while True:
            sent = db.execute("SELECT count(*) FROM deliveries WHERE issue_date = %s AND "
                              "state = 'sent'", (DATE,)).fetchone()
            if sent and sent[0] >= count:
                return time.perf_counter() - started
            if any(process.poll() not in (None, 0) for process in processes):
                raise SystemExit("bench: a send process failed")
            time.sleep(0.1)  # a count of every row: not so often that it takes a core


def bench_scaling(root: Path, server: PostgresServer, count: int, runs: int,
                  connections: int = SCALING_CONNECTIONS,
                  processes: tuple[int, ...] = (1, 2, 4)) -> list[Figure]:
    """1, 2 and 4 processes on one issue against a sink with 50 ms of latency."""
    figures = []
    with slow_sink(LATENCY) as port:
        for workers in processes:
            rates = []
            for _ in range(runs):
                url, env = subscribed(root, server, count)
                started = time.perf_counter()
                senders = [subprocess.Popen(send_command(port, connections), cwd=root, env=env,
                                            stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)
                           for _ in range(workers)]
                seconds = _all_sent_after(url, count, started, senders)
                if any(sender.wait(60) != 0 for sender in senders):
                    raise SystemExit("bench: a send process failed")
                check_sent(url, count)
                rates.append(count / seconds)
            figures.append(summarize(
                f"send {count:,}, {workers} process(es) x {connections} connections, "
                f"PostgreSQL ledger, sink answering after {LATENCY * 1000:.0f} ms", "msg/s",
                rates))
    for figure in figures[1:]:
        speedup = figure.median / figures[0].median
        figure.extra["speedup"] = speedup
        figure.note = f"{speedup:.2f}x one process"
    last = figures[-1]
    last.note += (" (target >= 3.5x)" if connections == SCALING_CONNECTIONS else
                  f" (CPU-bound: {processes[-1] * connections} connections on "
                  f"{len(os.sched_getaffinity(0))} cores)")
    return figures


def bench_send(root: Path, server: PostgresServer, count: int, runs: int) -> list[Figure]:
    """`newsletter send` with the PostgreSQL ledger against smtp-source, one sink."""
    size = message_size(root)
    ours, theirs = [], []
    with smtp_sink() as port:
        for _ in range(runs):
            seconds, _ = measured(smtp_source(port, size, count), root, dict(os.environ))
            theirs.append(count / seconds)
            url, env = subscribed(root, server, count)
            seconds, _ = measured(send_command(port, SEND_CONNECTIONS), root, env)
            check_sent(url, count)
            ours.append(count / seconds)
    sent = summarize(f"send {count:,} into smtp-sink, PostgreSQL ledger, whole process "
                     f"({SEND_CONNECTIONS} connections)", "msg/s", ours)
    source = summarize("smtp-source -s 8 -d, same sink, same run", "msg/s", theirs)
    sent.extra["ratio"] = sent.median / source.median
    sent.note = f"{sent.extra['ratio']:.2f} of smtp-source (target >= 0.5)"
    return [sent, source]


def bench_window(root: Path, server: PostgresServer, count: int) -> list[Figure]:
    """From the server's final reply to the commit of 'sent', for every message, in process."""
    from newsletter.commands import send as delivery
    from newsletter.config import load_config
    from newsletter.store.postgresql import PostgresStore

    url, env = subscribed(root, server, count)
    with patch.dict(os.environ, {name: env[name]
                                 for name in ("NEWSLETTER_DATABASE_URL", "PGPASSFILE")}), \
            duplicate_window(PostgresStore) as windows, smtp_sink() as port, \
            open(os.devnull, "w") as quiet:
        delivery.send_issue(load_config(root / "newsletter.toml"),
                            dt.date.fromisoformat(DATE), transport="smtp",
                            smtp_url=f"smtp://127.0.0.1:{port}",
                            connections=SEND_CONNECTIONS, stream=quiet, tty=False)
    if len(windows) != count:
        raise SystemExit(f"bench: {len(windows)} of {count} sends were timed")
    check_sent(url, count)
    ordered = sorted(windows)
    figure = summarize(f"duplicate window, PostgreSQL ledger: reply read to 'sent' committed "
                       f"({count:,} sends)", "µs", windows)
    figure.extra["p99"] = ordered[int(len(ordered) * 0.99)]
    figure.note = f"99th percentile {figure.extra['p99']:.0f} µs"
    return [figure]


def bench_memory(root: Path, server: PostgresServer, small: int, large: int,
                 runs: int) -> list[Figure]:
    """Peak RSS of one send process (a worker) to `small` and to `large` readers."""
    figures = []
    with smtp_sink() as port:
        for count in (small, large):
            peaks = []
            for _ in range(runs):
                url, env = subscribed(root, server, count)
                _, peak = measured(send_command(port, SEND_CONNECTIONS), root, env)
                check_sent(url, count)
                peaks.append(peak)
            figures.append(summarize(f"peak RSS per worker, PostgreSQL ledger, send to "
                                     f"{count:,}", "MB", peaks))
    ratio = figures[1].median / figures[0].median
    figures[1].extra["ratio"] = ratio
    figures[1].note = f"{ratio:.2f}x the send to {small:,} (target <= 1.2)"
    return figures


def run(root: Path, quick: bool) -> list[Figure]:
    """Every PostgreSQL figure, on one throwaway server."""
    with postgres() as server:
        return [*bench_scaling(root, server, 1_000 if quick else 20_000, runs=1),
                *bench_scaling(root, server, 1_000 if quick else 20_000, runs=1,
                               connections=BUSY_CONNECTIONS, processes=(1, 4)),
                *bench_send(root, server, 500 if quick else 20_000, runs=1 if quick else 3),
                *bench_window(root, server, 500 if quick else 5_000),
                *bench_memory(root, server, 200 if quick else 1_000,
                              2_000 if quick else 100_000, runs=1)]


def main(argv: list[str]) -> None:
    if argv[:1] == ["sink"]:
        port, delay = int(argv[1]), float(argv[2])
        with suppress(KeyboardInterrupt):
            asyncio.run(_serve(port, delay))
        return
    raise SystemExit("usage: python -m bench.pg_bench sink PORT DELAY (or python -m bench "
                     "--only postgres)")


if __name__ == "__main__":
    main(sys.argv[1:])
