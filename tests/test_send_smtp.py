"""`newsletter send` over SMTP to real aiosmtpd servers on 127.0.0.1 (no mocks)."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.audience.tokens import signer_for
from newsletter.cli import cli
from newsletter.commands.send import message_template, render_for_sending
from newsletter.delivery.transports.smtp import PASSWORD_ENV
from newsletter.store import open_store
from support.project import Project
from support.smtp import (
    DATE,
    FAST_RETRIES,
    Failing,
    Recorder,
    SMTPServer,
    prepare_project,
    self_signed_certificate,
)

READERS = [("ann@example.org", "Ann Smith", ""), ("bob@example.org", "", ""),
           ("zoe@example.org", "Zoë Ærø", ""), ("gone@example.org", "Gone", "unsubscribed"),
           ("dead@example.org", "Dead", "bounced")]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    monkeypatch.delenv("NEWSLETTER_SECRET", raising=False)


def _run(*args: str):
    return CliRunner().invoke(cli, list(args))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_done_when_each_active_subscriber_gets_one_correct_message(project: Project) -> None:
    """The issue's acceptance check, run as a user would: the installed command."""
    prepare_project(project, READERS)
    recorder = Recorder()
    with SMTPServer(recorder) as server:
        result = subprocess.run(
            [sys.executable, "-m", "newsletter", "send", "--date", DATE, "--transport", "smtp",
             "--smtp-url", f"smtp://127.0.0.1:{server.port}"],
            cwd=project.root, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{DATE}: 3 sent, 0 failed")
    assert recorder.per_recipient() == {"ann@example.org": 1, "bob@example.org": 1,
                                        "zoe@example.org": 1}
    config = project.config()
    date = dt.date.fromisoformat(DATE)
    template, rendered = message_template(config, date), render_for_sending(config, date)
    names = {email: name for email, name, _ in READERS}
    with open_store(config) as store:
        ids = {s.email: s.id for s in store.iter_subscribers()}
    for (sender, rcpts, _), message in zip(recorder.messages, recorder.parsed(), strict=True):
        address = rcpts[0]
        assert sender == "news@example.org"
        assert message["To"].addresses[0].addr_spec == address
        assert message["To"].addresses[0].display_name == names[address]
        url = template.unsubscribe_url(ids[address])
        text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
        assert text == rendered.personalize(names[address] or "there", url)[1]
        assert f"<{url}>" in message["List-Unsubscribe"]
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert signer_for(config).verify(url.split("token=")[1]) == ids[address]


@pytest.mark.parametrize("pipelining", [False, True], ids=["one-by-one", "pipelining"])
def test_failing_server_retries_gives_up_and_bounces(project: Project, pipelining: bool) -> None:
    readers = [(f"{who}@example.org", who.title(), "") for who in
               ("busy", "later", "nouser", "policy", "cut", "never", "fine")]
    prepare_project(project, readers)
    handler = Failing({"busy@example.org": ["421"], "later@example.org": ["451", "451"],
                       "nouser@example.org": ["550"], "policy@example.org": ["554"],
                       "cut@example.org": ["drop"], "never@example.org": ["451"] * 10},
                      pipelining=pipelining)
    with SMTPServer(handler) as server:
        result = _run("send", "--date", DATE, "--transport", "smtp", "--smtp-url", server.url,
                      "--connections", "2")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{DATE}: 4 sent, 2 failed, 1 bounced")
    assert handler.per_recipient() == {"busy@example.org": 1, "later@example.org": 1,
                                       "cut@example.org": 1, "fine@example.org": 1}
    assert handler.seen["never@example.org"] == 4  # max_attempts
    status = _run("status", "--date", DATE).stdout
    assert "failed  nouser@example.org  (1 attempt(s)): 550 5.1.1" in status
    assert "failed  policy@example.org  (1 attempt(s)): 554 5.7.1 Message rejected" in status
    assert "failed  never@example.org  (4 attempt(s)): gave up after 4 attempts: 451" in status
    listed = _run("subscribers", "list", "--status", "bounced").stdout
    assert listed == "nouser@example.org\tbounced\tNouser\n"  # policy@ is not bounced
    project.add_issue("2025-12-05", ["a-paper"])
    with SMTPServer(Recorder()) as server:
        later = _run("send", "--date", "2025-12-05", "--transport", "smtp",
                     "--smtp-url", server.url)
    assert later.stdout.startswith("2025-12-05: 6 sent")  # the bounced address is skipped


def test_starttls_with_a_verified_certificate(project: Project, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    cert, context = self_signed_certificate(tmp_path)
    prepare_project(project, READERS, FAST_RETRIES + f'smtp_ca_file = "{cert}"\n')
    recorder = Recorder()
    with SMTPServer(recorder, tls_context=context, auth=("mailer", "s3cret-pw")) as server:
        monkeypatch.setenv(PASSWORD_ENV, "s3cret-pw")
        result = _run("send", "--date", DATE, "--transport", "smtp",
                      "--smtp-url", f"smtp://mailer@127.0.0.1:{server.port}")
    assert result.exit_code == 0, result.output
    assert len(recorder.messages) == 3 and all(recorder.tls)


def test_an_unverified_certificate_stops_before_sending(project: Project,
                                                        tmp_path: Path) -> None:
    cert, context = self_signed_certificate(tmp_path)
    prepare_project(project, READERS)
    recorder = Recorder()
    with SMTPServer(recorder, tls_context=context) as server:
        result = _run("send", "--date", DATE, "--transport", "smtp", "--smtp-url", server.url)
    assert result.exit_code == 2
    assert "the TLS certificate of 127.0.0.1:" in result.stderr
    assert "does not verify" in result.stderr and "smtp_ca_file" in result.stderr
    assert recorder.messages == []
    assert _run("status", "--date", DATE).stdout.startswith(f"{DATE}: 0 sent, 3 pending")


def test_a_wrong_password_is_never_shown_or_stored(project: Project, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    cert, context = self_signed_certificate(tmp_path)
    prepare_project(project, READERS, FAST_RETRIES + f'smtp_ca_file = "{cert}"\n')
    password = "wrong-Pa55word-xyz"
    with SMTPServer(Recorder(), tls_context=context, auth=("mailer", "right")) as server:
        url = f"smtp://mailer@127.0.0.1:{server.port}"
        missing = _run("send", "--date", DATE, "--transport", "smtp", "--smtp-url", url)
        monkeypatch.setenv(PASSWORD_ENV, password)
        wrong = _run("send", "--date", DATE, "--transport", "smtp", "--smtp-url", url)
    assert missing.exit_code == 2 and f"{PASSWORD_ENV} is not set" in missing.stderr
    assert wrong.exit_code == 2 and "login as mailer at 127.0.0.1" in wrong.stderr
    assert password not in wrong.output
    for path in project.root.rglob("*"):
        if path.is_file():
            assert password.encode() not in path.read_bytes(), path
    in_url = _run("send", "--date", DATE, "--transport", "smtp",
                  "--smtp-url", f"smtp://mailer:{password}@127.0.0.1:25")
    assert in_url.exit_code == 2 and "must not hold a password" in in_url.stderr
    assert password not in in_url.output
    with open(project.root / "newsletter.toml", "a", encoding="utf-8") as handle:
        handle.write(f'smtp_url = "smtp://mailer:{password}@127.0.0.1:25"\n')
    in_config = _run("send", "--date", DATE, "--transport", "smtp")
    assert in_config.exit_code == 2 and "'delivery.smtp_url': must not hold a password" in \
        in_config.stderr
    assert password not in in_config.output


def test_a_dead_server_stops_the_run_and_a_later_run_resumes(project: Project) -> None:
    prepare_project(project, 30)
    port = _free_port()
    dead = _run("send", "--date", DATE, "--transport", "smtp",
                "--smtp-url", f"smtp://127.0.0.1:{port}")
    assert dead.exit_code == 2
    assert f"cannot connect to 127.0.0.1:{port}" in dead.stderr
    assert "0 sent by this run, 30 left" in dead.stderr and "run the same command" in dead.stderr
    recorder = Recorder()
    with SMTPServer(recorder) as server:
        resumed = _run("send", "--date", DATE, "--transport", "smtp", "--smtp-url", server.url)
    assert resumed.stdout.startswith(f"{DATE}: 30 sent, 0 failed")
    assert set(recorder.per_recipient().values()) == {1} and len(recorder.messages) == 30


def test_rate_limit_and_test_copy(project: Project) -> None:
    prepare_project(project, 20)
    recorder = Recorder()
    with SMTPServer(recorder) as server:
        copy = _run("send", "--date", DATE, "--transport", "smtp", "--smtp-url", server.url,
                    "--to", "editor@example.org")
        assert copy.exit_code == 0 and len(recorder.messages) == 1
        assert _run("status", "--date", DATE).stdout.startswith(f"{DATE}: 0 sent, 0 pending")
        start = time.monotonic()
        limited = _run("send", "--date", DATE, "--transport", "smtp", "--smtp-url", server.url,
                       "--rate", "40", "--connections", "3")
        elapsed = time.monotonic() - start
    assert limited.stdout.startswith(f"{DATE}: 20 sent")
    assert elapsed >= 19 / 40


def test_smtps_with_implicit_tls(project: Project, tmp_path: Path) -> None:
    cert, context = self_signed_certificate(tmp_path)
    prepare_project(project, READERS, FAST_RETRIES + f'smtp_ca_file = "{cert}"\n')
    recorder = Recorder()
    with SMTPServer(recorder, implicit_tls=context) as server:
        result = _run("send", "--date", DATE, "--transport", "smtp",
                      "--smtp-url", f"smtps://127.0.0.1:{server.port}")
    assert result.exit_code == 0, result.output
    assert len(recorder.messages) == 3 and all(recorder.tls)


def test_a_timeout_is_retried(project: Project) -> None:
    prepare_project(project, [("slow@example.org", "Slow", ""), ("fast@example.org", "", "")],
                    FAST_RETRIES.replace("smtp_timeout = 10", "smtp_timeout = 0.3"))
    handler = Failing({"slow@example.org": ["slow"]})
    with SMTPServer(handler) as server:
        result = _run("send", "--date", DATE, "--transport", "smtp", "--smtp-url", server.url,
                      "--connections", "1")
    assert result.stdout.startswith(f"{DATE}: 2 sent, 0 failed, 0 bounced, 0 skipped, 1 retried")
    assert handler.per_recipient() == {"slow@example.org": 1, "fast@example.org": 1}


def test_lines_starting_with_a_dot_arrive_intact(project: Project) -> None:
    """Messages not built by MessageTemplate (dot_safe False) are dot-stuffed on the wire."""
    from newsletter.delivery.transports import Envelope
    from newsletter.delivery.transports.smtp import SMTPSettings, SMTPTransport

    data = b"Subject: dots\r\n\r\n.leading\r\n..two\r\nmiddle.\r\n.\r\n"
    recorder = Recorder()
    with SMTPServer(recorder) as server, \
            SMTPTransport(SMTPSettings.from_url(server.url)) as transport:
        reply = transport.send(Envelope("news@example.org", "ada@example.org", data))
    assert reply.ok
    assert recorder.messages[0][2].replace(b"\r\n", b"\n") == data.replace(b"\r\n", b"\n")
