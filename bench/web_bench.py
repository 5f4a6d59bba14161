"""The one-click burst after a send: `POST /unsubscribe?token=...` as Gmail sends it, against
one uvicorn worker on 127.0.0.1, on SQLite and on PostgreSQL.

The app runs as a user runs it (`python -m uvicorn newsletter.web:app`, one process, its
access log on, written to a file). A small asyncio load generator measures two things, each
reader's POST once (every request unsubscribes someone):

- throughput: `CONNECTIONS` keep-alive connections, each sending its next request as soon as
  the answer came (closed loop), requests per second over the burst;
- latency at the target rate: requests offered at 1,000 per second (open loop, over a pool
  of connections), each timed from when it was due to be sent to the last byte of its
  answer, so time spent queueing for a connection counts.

Targets: at least 1,000 requests/s, and a p99 under 50 ms at 1,000 requests/s.
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from newsletter.audience.tokens import signer_for
from newsletter.config import load_config
from newsletter.store import open_url

from .measure import Figure

CONNECTIONS = 32
POOL = 64  # connections of the open-loop run (a request waits when all are busy)
SECRET = "bench-secret-0123456789abcdef0123"
TARGET_RATE, TARGET_P99 = 1000.0, 50.0


@contextmanager
def uvicorn_app(root: Path, env: dict[str, str]) -> Iterator[str]:
    """`python -m uvicorn newsletter.web:app` on a free port; its URL; stopped after."""
    log = root / "access.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "newsletter.web:app", "--port", "0",
             "--workers", "1"], cwd=root, stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, **env})
    try:
        deadline = time.monotonic() + 30
        while not (found := re.search(r"running on (http://127\.0\.0\.1:\d+)",
                                      log.read_text())):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"bench: the web app did not start:\n{log.read_text()}")
            time.sleep(0.05)
        yield found[1]
    finally:
        process.terminate()
        process.wait(timeout=30)


async def _connection(port: int, requests: list[bytes], latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for request in requests:
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200 "):
                raise SystemExit(f"bench: unexpected answer {head[:80]!r}")
            length = int(re.search(rb"content-length: (\d+)", head, re.I)[1])  # type: ignore[index]
            await reader.readexactly(length)
            latencies.append((time.perf_counter() - start) * 1000)
    finally:
        writer.close()
        await writer.wait_closed()


def burst(url: str, tokens: list[str]) -> tuple[float, list[float]]:
    """POST each token once over CONNECTIONS connections: (requests/s, latencies in ms)."""
    port = int(url.rsplit(":", 1)[1])
    requests = [_request(port, token) for token in tokens]
    latencies: list[float] = []

    async def main() -> float:
        start = time.perf_counter()
        await asyncio.gather(*(_connection(port, requests[i::CONNECTIONS], latencies)
                               for i in range(CONNECTIONS)))
        return time.perf_counter() - start

    seconds = asyncio.run(main())
    return len(tokens) / seconds, latencies


def paced(url: str, tokens: list[str], rate: float) -> list[float]:
    """POST each token once, offered at `rate` per second: latencies in ms from when each
    was due (open loop)."""
    port = int(url.rsplit(":", 1)[1])
    latencies: list[float] = []

    async def main() -> None:
        due: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()

        async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while (item := await due.get()) is not None:
                    at, request = item
                    writer.write(request)
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = re.search(rb"content-length: (\d+)", head, re.I)
                    if not head.startswith(b"HTTP/1.1 200 ") or length is None:
                        raise SystemExit(f"bench: unexpected answer {head[:80]!r}")
                    await reader.readexactly(int(length[1]))
                    latencies.append((time.perf_counter() - at) * 1000)
            finally:
                writer.close()
                await writer.wait_closed()

        # Connected before the clock starts, as a busy server's clients already are.
        connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(POOL)]
        workers = [asyncio.create_task(worker(*pair)) for pair in connections]
        start = time.perf_counter()
        for index, token in enumerate(tokens):
            at = start + index / rate
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            due.put_nowait((at, _request(port, token)))
        for _ in workers:
            due.put_nowait(None)
        await asyncio.gather(*workers)

    asyncio.run(main())
    return latencies


def _request(port: int, token: str) -> bytes:
    return (f"POST /unsubscribe?token={token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 26\r\n"
            "\r\nList-Unsubscribe=One-Click").encode()


def _p99(latencies: list[float]) -> float:
    return statistics.quantiles(latencies, n=100)[98]


def _measure(root: Path, label: str, database: str, env: dict[str, str], requests: int,
             runs: int) -> list[Figure]:
    env = {**env, "NEWSLETTER_SECRET": SECRET, "NEWSLETTER_DATABASE_URL": database,
           "NEWSLETTER_CONFIG": str(root / "newsletter.toml")}
    os.environ.update(env)  # the token signer and the store here read the same settings
    with open_url(database) as store:
        store.upsert_subscribers((f"{label}{i}@example.org", "", "active")
                                 for i in range(requests * (2 * runs + 1)))
        ids = [s.id for s in store.iter_subscribers("active")]
    tokens_of = signer_for(load_config(root / "newsletter.toml"))
    tokens = [tokens_of.token(i) for i in ids]
    tokens_of.close()
    rates, p99s, p50s = [], [], []
    slices = iter(tokens[i:i + requests] for i in range(0, len(tokens), requests))
    with uvicorn_app(root, env) as url:
        burst(url, next(slices))  # warm-up: imports, caches, the first connections
        for _ in range(runs):
            rate, _latencies = burst(url, next(slices))
            rates.append(rate)
            latencies = paced(url, next(slices), TARGET_RATE)
            p99s.append(_p99(latencies))
            p50s.append(statistics.median(latencies))
    with open_url(database) as store:
        left = store.count_subscribers("active")
    if left:
        raise SystemExit(f"bench: {left} readers were not unsubscribed")
    # Judged on the medians, like every figure here; the worst run is in the note.
    verdict = "met" if statistics.median(rates) >= TARGET_RATE and \
        statistics.median(p99s) < TARGET_P99 else "MISSED"
    return [Figure(f"one-click POST throughput ({label})", "requests/s",
                   statistics.median(rates), min(rates), max(rates), runs,
                   f"{requests:,} POSTs per run, {CONNECTIONS} connections, closed loop, one "
                   f"uvicorn worker; target >= 1,000/s and p99 < 50 ms: {verdict}"),
            Figure(f"one-click POST p99 latency at 1,000/s ({label})", "ms",
                   statistics.median(p99s), min(p99s), max(p99s), runs,
                   f"{requests:,} POSTs offered at 1,000/s (open loop); "
                   f"p50 {statistics.median(p50s):.2f} ms; worst run's p99 {max(p99s):.1f} ms")]


def run(root: Path, quick: bool) -> list[Figure]:
    """Both backends; PostgreSQL on a throwaway server (durable, like a real one)."""
    from .pg_import_bench import postgres

    requests, runs = (1_000, 1) if quick else (10_000, 3)
    saved = dict(os.environ)
    try:
        figures = _measure(root, "SQLite", f"sqlite:///{root / 'web.sqlite3'}", {}, requests,
                           runs)
        with postgres() as server:
            figures += _measure(root, "PostgreSQL", server.create_database(), server.env(),
                                requests, runs)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return figures


if __name__ == "__main__":
    from .render_bench import project_copy

    for figure in run(project_copy(), "--quick" in sys.argv):
        print(f"{figure.name}: median {figure.median:,.2f} {figure.unit} "
              f"(min {figure.low:,.2f}, max {figure.high:,.2f}) {figure.note}")
