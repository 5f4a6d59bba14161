"""Many `newsletter send` processes on one PostgreSQL ledger, with real servers only.

Each process is a real `python -m newsletter send` against the session's PostgreSQL server
(tests/support/postgres.py) and a slow aiosmtpd server on 127.0.0.1 that answers each message
after a delay, as a remote provider does. Leases are 2 s here (NEWSLETTER_LEASE_SECONDS), so
a killed worker's rows are taken over within seconds. Also: two runs started at once, a rate
limit over all processes, PostgreSQL restarted in the middle of a send (with the password in
the URL, which must never show), and `--retry-failed`.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.store import open_store
from support.postgres import (  # noqa: F401  (the fixtures)
    PostgresServer,
    postgres_fixtures,
    postgres_url_fixture,
)
from support.project import Project
from support.smtp import (
    DATE,
    FAST_RETRIES,
    SECRET,
    Failing,
    Recorder,
    SMTPServer,
    prepare_project,
)

LEASE = 2.0


class Slow(Recorder):
    """Keeps each message, then answers 250 only after `delay` seconds (a remote provider)."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.times: list[float] = []  # when each message was accepted (monotonic)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        with self.lock:
            self.times.append(time.monotonic())
        await asyncio.sleep(self.delay)
        return reply


@pytest.fixture
def on_postgres(project: Project, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The project's list and ledger in a new PostgreSQL schema; its URL."""
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", postgres_url)
    monkeypatch.setenv("NEWSLETTER_SECRET", SECRET)
    return postgres_url


def _environment(url: str) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("NEWSLETTER_")}
    environment.update(NEWSLETTER_DATABASE_URL=url, NEWSLETTER_LEASE_SECONDS=str(LEASE),
                       NEWSLETTER_SECRET=SECRET)
    return environment


def _send(project: Project, server: SMTPServer, url: str, *args: str,
          connections: int = 2, environment: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "newsletter", "send", "--date", DATE, "--transport", "smtp",
         "--smtp-url", server.url, "--connections", str(connections), *args],
        cwd=project.root, env=environment or _environment(url), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)


def _finish(process: subprocess.Popen, timeout: float = 90) -> tuple[str, str]:
    stdout, stderr = process.communicate(timeout=timeout)
    assert process.returncode == 0, stderr
    return stdout, stderr


def _ledger(project: Project) -> tuple[dict[str, int], list[str]]:
    with open_store(project.config()) as store:
        return store.counts(DATE), [row[0] for row in store.rows(DATE, in_doubt=True)]


def _wait_for(condition, timeout: float, step: float = 0.01) -> float:
    """Poll until `condition()` is true; the monotonic time it became so."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(step)
    return time.monotonic()


def _sql(url: str, statement: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as db:
        return db.execute(statement, params).fetchall()


def _sent_by(stdout: str) -> int:
    found = re.search(rf"^{DATE}: (\d+) sent,", stdout, re.MULTILINE)
    return int(found.group(1)) if found else 0


def _in_doubt_by(stdout: str) -> int:
    found = re.search(r"^(\d+) in doubt", stdout, re.MULTILINE)
    return int(found.group(1)) if found else 0


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen]]:
    """Send processes a test starts; any still running at its end are killed."""
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_three_workers_one_killed_the_others_finish(
        project: Project, on_postgres: str, processes: list[subprocess.Popen]) -> None:
    readers = 400
    prepare_project(project, readers)
    recorder = Slow(0.05)
    with SMTPServer(recorder) as server:
        processes += [_send(project, server, on_postgres) for _ in range(3)]
        victim = processes[0]
        _wait_for(lambda: len(_sql(on_postgres, "SELECT 1 FROM workers")) == 3
                  and len(recorder.messages) >= 100, 60)
        status = CliRunner().invoke(cli, ["status", "--date", DATE])
        assert "workers: 3 live, 0 lost" in status.stdout, status.output
        assert f"pid {victim.pid}: " in status.stdout
        os.kill(victim.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        (lease,), = _sql(on_postgres, "SELECT id FROM workers WHERE pid = %s", (victim.pid,))
        owned = ("SELECT email FROM deliveries WHERE split_part(worker, '/', 1) = %s "
                 "AND state = %s")
        in_flight = {email for email, in _sql(on_postgres, owned, (lease, "sending"))}
        claimed = _sql(on_postgres, owned, (lease, "claimed"))
        assert in_flight and claimed  # killed in the middle of a batch

        def released() -> bool:
            return not _sql(on_postgres, "SELECT 1 FROM deliveries WHERE split_part(worker, "
                                         "'/', 1) = %s", (lease,))

        taken_over = _wait_for(released, LEASE + 10, step=0.1)
        assert taken_over - killed_at <= LEASE + 3
        victim.communicate()
        assert victim.returncode == -signal.SIGKILL
        outputs = [_finish(process)[0] for process in processes[1:]]
    counts, in_doubt = _ledger(project)
    assert counts["sent"] == readers and counts["pending"] == counts["sending"] == 0
    received = recorder.per_recipient()
    assert set(received) == {f"reader{i}@example.org" for i in range(readers)}  # 0 lost
    twice = {address for address, times in received.items() if times > 1}
    assert max(received.values()) <= 2
    assert twice <= set(in_doubt) <= in_flight, "a duplicate outside the in-doubt rows"
    assert sum(map(_in_doubt_by, outputs)) == len(in_doubt)
    status = CliRunner().invoke(cli, ["status", "--date", DATE])
    assert "workers: 0 live, 1 lost" in status.stdout
    assert f"pid {victim.pid}: " in status.stdout and "lease ran out" in status.stdout


def test_two_sends_started_at_the_same_instant_share_the_work(
        project: Project, on_postgres: str, processes: list[subprocess.Popen]) -> None:
    readers = 300
    prepare_project(project, readers)
    recorder = Slow(0.01)
    with SMTPServer(recorder) as server:
        processes += [_send(project, server, on_postgres) for _ in range(2)]
        outputs = [_finish(process)[0] for process in processes]
    assert sorted(recorder.per_recipient().values()) == [1] * readers
    sent = [_sent_by(output) for output in outputs]
    assert sum(sent) == readers and min(sent) > 0, outputs
    counts, in_doubt = _ledger(project)
    assert counts["sent"] == readers and not in_doubt
    assert "workers:" not in CliRunner().invoke(cli, ["status", "--date", DATE]).stdout


def test_a_rate_limit_holds_over_all_processes(
        project: Project, on_postgres: str, processes: list[subprocess.Popen]) -> None:
    readers, rate = 40, 20
    prepare_project(project, readers, FAST_RETRIES + "batch_size = 5\n")
    recorder = Slow(0.0)
    with SMTPServer(recorder) as server:
        processes += [_send(project, server, on_postgres, "--rate", str(rate))
                      for _ in range(2)]
        outputs = [_finish(process)[0] for process in processes]
    assert all(_sent_by(output) > 0 for output in outputs), outputs
    times = sorted(recorder.times)
    assert len(times) == readers
    busiest = max(sum(1 for t in times if start <= t < start + 1) for start in times)
    assert busiest <= rate + 2, f"{busiest} messages in one second"
    assert times[-1] - times[0] >= (readers - 1) / rate * 0.9


def _restart(server: PostgresServer, down: float) -> None:
    server._run("pg_ctl", "-D", server.data, "-m", "fast", "-w", "-t", "30", "stop")
    time.sleep(down)
    server._run("pg_ctl", "-D", server.data, "-l", server.log, "-w", "-t", "60",
                "-o", f"-p {server.port}", "start")


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A server of this test's own, to restart (the session's serves the other tests)."""
    server = PostgresServer()
    try:
        yield server.start()
    finally:
        server.stop()


def test_postgresql_restarted_mid_send_loses_nothing_and_shows_no_password(
        project: Project, own_postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch,
        processes: list[subprocess.Popen]) -> None:
    own_postgres.create_database("newsletter")
    password = own_postgres.password()
    url = f"postgresql://newsletter:{password}@127.0.0.1:{own_postgres.port}/newsletter"
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", url)
    monkeypatch.setenv("NEWSLETTER_SECRET", SECRET)
    monkeypatch.delenv("PGPASSFILE", raising=False)  # the password comes from the URL alone
    readers = 300
    prepare_project(project, readers)
    recorder = Slow(0.02)
    environment = _environment(url)
    environment.pop("PGPASSFILE", None)
    with SMTPServer(recorder) as server:
        processes += [_send(project, server, url, environment=environment)
                      for _ in range(2)]
        _wait_for(lambda: len(recorder.messages) >= 80, 60)
        _restart(own_postgres, down=1.0)
        outputs = [_finish(process) for process in processes]
    counts, in_doubt = _ledger(project)
    assert counts["sent"] == readers and counts["pending"] == counts["sending"] == 0
    received = recorder.per_recipient()
    assert set(received) == {f"reader{i}@example.org" for i in range(readers)}
    twice = {address for address, times in received.items() if times > 1}
    assert twice <= set(in_doubt) and len(in_doubt) <= 4  # one per connection at most
    status = CliRunner().invoke(cli, ["status", "--date", DATE])
    assert f"{readers} sent" in status.stdout
    own_postgres._run("pg_ctl", "-D", own_postgres.data, "-m", "fast", "-w", "stop")
    down = CliRunner().invoke(cli, ["status", "--date", DATE])
    assert down.exit_code == 2 and "postgresql://newsletter:***@127.0.0.1" in down.stderr
    texts = [*(text for pair in outputs for text in pair), status.output, down.output,
             own_postgres.log.read_text(errors="replace")]
    assert not [text for text in texts if password in text]


def test_retry_failed_sends_again_to_failures_not_bounces(project: Project) -> None:
    prepare_project(project, 4)
    failing = Failing({"reader1@example.org": ["554"], "reader2@example.org": ["550"]})
    with SMTPServer(failing) as server:
        send = ["send", "--date", DATE, "--transport", "smtp", "--smtp-url", server.url]
        first = CliRunner().invoke(cli, send)
        assert first.exit_code == 0, first.output
        status = CliRunner().invoke(cli, ["status", "--date", DATE]).stdout
        assert "failed  reader1@example.org  (1 attempt(s)): 554 5.7.1" in status
        assert "failed  reader2@example.org  (1 attempt(s)): 550 5.1.1" in status
        assert f"newsletter send --date {DATE} --retry-failed" in status
        again = CliRunner().invoke(cli, send)
        assert "nothing to send" in again.stdout
        retried = CliRunner().invoke(cli, [*send, "--retry-failed"])
        assert retried.exit_code == 0, retried.output
        assert "--retry-failed: 1 failed reader(s) put back to pending" in retried.stderr
    assert failing.per_recipient() == {"reader0@example.org": 1, "reader1@example.org": 1,
                                       "reader3@example.org": 1}
    counts, _ = _ledger(project)
    assert (counts["sent"], counts["failed"]) == (3, 1)
    with open_store(project.config()) as store:
        assert store.subscriber("reader2@example.org").status == "bounced"


def test_against_a_slow_server_a_worker_claims_about_a_second_of_work(
        project: Project, on_postgres: str, processes: list[subprocess.Popen]) -> None:
    """50 ms a message: a worker holds about 20 claimed rows, not the 50 of batch_size."""
    readers = 80
    prepare_project(project, readers, FAST_RETRIES + "batch_size = 50\n")
    recorder = Slow(0.05)
    held: list[int] = []
    with SMTPServer(recorder) as server:
        processes.append(_send(project, server, on_postgres, connections=1))
        while processes[0].poll() is None:
            held += [row[0] for row in _sql(on_postgres, "SELECT count(*) FROM deliveries "
                                            "WHERE state IN ('claimed', 'sending')")]
            time.sleep(0.02)
        _finish(processes[0])
    assert sorted(recorder.per_recipient().values()) == [1] * readers
    assert max(held) >= 10  # it did claim batches (the first of FIRST_BATCH rows)
    assert max(held) <= 25, f"a worker held {max(held)} rows at once"
