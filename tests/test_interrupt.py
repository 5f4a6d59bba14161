"""Interrupted sends: kill -9 and Ctrl-C in the middle of a real run, then a resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter

import pytest

from newsletter.store import open_store
from support.project import Project
from support.smtp import DATE, Recorder, SMTPServer, prepare_project

READERS = 2000
CONNECTIONS = 4


def _send(project: Project, server: SMTPServer) -> subprocess.Popen:
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("NEWSLETTER_")}
    return subprocess.Popen(
        [sys.executable, "-m", "newsletter", "send", "--date", DATE, "--transport", "smtp",
         "--smtp-url", server.url, "--connections", str(CONNECTIONS)],
        cwd=project.root, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)


def _ledger(project: Project) -> tuple[dict[str, int], list[str]]:
    with open_store(project.config()) as store:
        return store.counts(DATE), [row[0] for row in store.rows(DATE, in_doubt=True)]


def test_kill_9_then_resume_reaches_everyone_once(project: Project) -> None:
    prepare_project(project, READERS)
    recorder = Recorder()
    with SMTPServer(recorder) as server:
        process = _send(project, server)

        def kill_at(count: int) -> None:
            # In the worst instant: the server holds message 700 but has not said 250 yet.
            if count == 700:
                os.kill(process.pid, signal.SIGKILL)

        recorder.on_accept = kill_at
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == -signal.SIGKILL, stderr
        recorder.on_accept = None
        counts, _ = _ledger(project)
        assert 0 < counts["sending"] <= CONNECTIONS  # in flight when it died
        assert counts["sent"] < 700 <= len(recorder.messages)

        resume = _send(project, server)
        stdout, stderr = resume.communicate(timeout=60)
    assert resume.returncode == 0, stderr
    counts, in_doubt = _ledger(project)
    assert counts["sent"] == READERS and counts["pending"] == counts["sending"] == 0
    assert f"{len(in_doubt)} in doubt" in stdout
    received = recorder.per_recipient()
    assert set(received) == {f"reader{i}@example.org" for i in range(READERS)}
    twice = {address for address, times in received.items() if times > 1}
    assert max(received.values()) <= 2
    assert twice <= set(in_doubt), "a duplicate the ledger did not report"
    assert 1 <= len(in_doubt) <= CONNECTIONS


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_stops_cleanly_and_resume_sends_the_rest(project: Project, how: int) -> None:
    prepare_project(project, 600)
    recorder = Recorder()
    with SMTPServer(recorder) as server:
        process = _send(project, server)
        recorder.on_accept = lambda count: count == 150 and os.kill(process.pid, how)
        stdout, stderr = process.communicate(timeout=60)
        recorder.on_accept = None
        assert process.returncode == 130, stderr
        assert "interrupted: run the same command again to resume" in stderr
        counts, in_doubt = _ledger(project)
        assert counts["sending"] == counts["claimed"] == 0 and not in_doubt
        assert counts["sent"] == len(recorder.messages) < 600
        resume = _send(project, server)
        stdout, stderr = resume.communicate(timeout=60)
    assert resume.returncode == 0, stderr
    assert "in doubt" not in stdout
    assert Counter(recorder.per_recipient().values()) == {1: 600}
