"""`newsletter send` as a CI job runs it: checked first, exit codes to act on, logs, settings
from the environment."""

from __future__ import annotations

import io
import time

from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.delivery.progress import Progress
from support.project import Project
from support.smtp import DATE, Recorder, SMTPServer, prepare_project


def _run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env=env)


def _break_the_issue(project: Project) -> None:
    """A placeholder link: `newsletter check` reports it as an error."""
    project.add_paper("a-paper", title="A Paper", published="2025-11-01",
                      links={"arXiv": "https://arxiv.org/abs/2510.xxxxx"})


def test_an_issue_with_check_errors_is_not_sent(project: Project) -> None:
    prepare_project(project, 3)
    _break_the_issue(project)
    recorder = Recorder()
    with SMTPServer(recorder) as server:
        refused = _run("send", "--date", DATE, "--transport", "smtp", "--smtp-url", server.url)
    assert refused.exit_code == 2
    lines = refused.stderr.splitlines()
    assert any("[placeholder-link]" in line and "a-paper.md" in line for line in lines)
    assert lines[-1] == (f"error: the {DATE} issue has 1 error(s) from `newsletter check`; "
                         "nothing sent (fix them, or add --force to send it anyway)")
    assert recorder.messages == []
    assert "0 sent" in _run("status", "--date", DATE).stdout


def test_force_sends_an_issue_with_check_errors_and_says_so(project: Project) -> None:
    prepare_project(project, 3)
    _break_the_issue(project)
    recorder = Recorder()
    with SMTPServer(recorder) as server:
        forced = _run("send", "--date", DATE, "--transport", "smtp", "--smtp-url", server.url,
                      "--force")
    assert forced.exit_code == 0, forced.output
    assert "--force: sending although `newsletter check` finds 1 error(s)" in forced.stderr
    assert len(recorder.messages) == 3


def test_settings_a_ci_job_gives_in_the_environment(project: Project) -> None:
    prepare_project(project, 2)
    (project.root / "newsletter.toml").rename(project.root / "elsewhere.toml")
    recorder = Recorder()
    with SMTPServer(recorder) as server:
        sent = _run("send", "--date", DATE,
                    env={"NEWSLETTER_CONFIG": str(project.root / "elsewhere.toml"),
                         "NEWSLETTER_TRANSPORT": "smtp", "NEWSLETTER_SMTP_URL": server.url})
    assert sent.exit_code == 0, sent.output
    assert sorted(recorder.per_recipient()) == ["reader0@example.org", "reader1@example.org"]
    assert not (project.root / "outbox" / DATE / "sent").exists()


def test_off_a_terminal_a_line_every_few_seconds_and_no_carriage_return() -> None:
    log = io.StringIO()
    progress = Progress(1_000_000, log, tty=False, every=1_000_000, seconds=0.05)
    for _ in range(4):
        progress.advance(10)
        progress.refresh()
        time.sleep(0.06)
    progress.finish()
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert len(lines) >= 3
    assert all(line.startswith("sent ") and "msg/s, ETA " in line for line in lines)
    assert lines[-1].startswith("sent 40/1,000,000")
