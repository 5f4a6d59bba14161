"""`newsletter send` over SMTP to real aiosmtpd servers on 127.0.0.1 (no mocks)."""

from __future__ import annotations

import datetime as dt
import email
import socket
import subprocess
import sys
import time
from email import policy
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.audience.tokens import signer_for
from newsletter.cli import cli
from newsletter.commands.send import message_template, render_for_sending
from newsletter.delivery.transports import Envelope, Reply
from newsletter.delivery.transports.smtp import PASSWORD_ENV, SMTPSettings, SMTPTransport
from newsletter.render.greeting import greeting
from newsletter.store import open_store
from support.project import Project
from support.smtp import (
    DATE,
    FAST_RETRIES,
    Failing,
    Recorder,
    RefusingSender,
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
        assert sender.startswith(f"bounces+{DATE}.") and sender.endswith("@example.org")
        assert message["To"].addresses[0].addr_spec == address
        assert message["To"].addresses[0].display_name == names[address]
        url = template.unsubscribe_url(ids[address])
        text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
        assert text == rendered.personalize(greeting(names[address], "first"), url)[1]
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
    assert dead.exit_code == 75  # readers left pending: a CI job retries, not a mistake (2)
    assert f"cannot connect to 127.0.0.1:{port}" in dead.stderr
    assert "0 sent by this run, 30 left" in dead.stderr and "run the same command" in dead.stderr
    recorder = Recorder()
    with SMTPServer(recorder) as server:
        resumed = _run("send", "--date", DATE, "--transport", "smtp", "--smtp-url", server.url)
    assert resumed.stdout.startswith(f"{DATE}: 30 sent, 0 failed")
    assert resumed.exit_code == 0
    assert set(recorder.per_recipient().values()) == {1} and len(recorder.messages) == 30
    again = _run("send", "--date", DATE, "--transport", "smtp", "--smtp-url", server.url)
    assert again.exit_code == 0 and again.stdout == f"{DATE}: nothing to send (30 sent before)\n"


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
    data = b"Subject: dots\r\n\r\n.leading\r\n..two\r\nmiddle.\r\n.\r\n"
    recorder = Recorder()
    with SMTPServer(recorder) as server, \
            SMTPTransport(SMTPSettings.from_url(server.url)) as transport:
        reply = transport.send(Envelope("news@example.org", "ada@example.org", data))
    assert reply.ok
    assert recorder.messages[0][2].replace(b"\r\n", b"\n") == data.replace(b"\r\n", b"\n")


def _subscribers(project: Project) -> dict[str, str]:
    with open_store(project.config()) as store:
        return {s.email: s.status for s in store.iter_subscribers()}


def _ledger(project: Project) -> dict[str, str]:
    with open_store(project.config()) as store:
        return {email: state for email, state, _, _ in store.rows(DATE)}


@pytest.mark.parametrize("handler", [
    pytest.param(lambda: RefusingSender(), id="MAIL-one-by-one"),
    pytest.param(lambda: RefusingSender(pipelining=True), id="MAIL-pipelining"),
    pytest.param(lambda: RefusingSender("550 5.7.1 <{sender}>: not allowed to send as it"),
                 id="MAIL-5.7.1"),
    pytest.param(lambda: Failing({f"reader{i}@example.org": ["sender"] for i in range(12)}),
                 id="RCPT-5.1.8-postfix"),
])
def test_a_refused_sender_stops_the_run_and_bounces_no_one(project: Project, handler) -> None:
    prepare_project(project, 12)
    before = _subscribers(project)
    with SMTPServer(handler()) as server:
        result = _run("send", "--date", DATE, "--transport", "smtp", "--smtp-url", server.url,
                      "--connections", "3")
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: the server refused the sender bounces+{DATE}.")
    assert "0 sent by this run, 12 left" in result.stderr and "from_address" in result.stderr
    assert _subscribers(project) == before and set(before.values()) == {"active"}
    assert set(_ledger(project).values()) == {"pending"}
    assert _run("status", "--date", DATE).stdout.startswith(f"{DATE}: 0 sent, 12 pending, 0 "
                                                            "sending")
    recorder = Recorder()
    with SMTPServer(recorder) as server:  # the sender fixed: the same command resumes
        again = _run("send", "--date", DATE, "--transport", "smtp", "--smtp-url", server.url)
    assert again.stdout.startswith(f"{DATE}: 12 sent, 0 failed, 0 bounced")
    assert set(recorder.per_recipient().values()) == {1}


def test_only_a_reply_about_the_recipient_bounces_it(project: Project) -> None:
    readers = [(f"{who}@example.org", "", "") for who in ("gone", "refused", "fine")]
    prepare_project(project, readers)
    handler = Failing({"gone@example.org": ["550-after-data"],
                       "refused@example.org": ["554-after-data"]})
    with SMTPServer(handler) as server:
        result = _run("send", "--date", DATE, "--transport", "smtp", "--smtp-url", server.url)
    assert result.stdout.startswith(f"{DATE}: 1 sent, 1 failed, 1 bounced"), result.output
    assert _subscribers(project) == {"gone@example.org": "bounced",
                                     "refused@example.org": "active", "fine@example.org": "active"}


@pytest.mark.parametrize("reply,recipient,bounces,sender_refused", [
    (Reply(550, "5.1.1 <bob@example.org>: no such user", "RCPT"), "bob@example.org", True,
     False),
    (Reply(550, "no such user here", "RCPT"), "bob@example.org", True, False),
    (Reply(553, "5.1.3 Error: malformed address", "MAIL"), "bob@example.org", False, True),
    (Reply(550, "5.1.1 no such user", "MAIL"), "bob@example.org", False, True),
    (Reply(553, "5.1.8 <news@example.org>: Sender address rejected", "RCPT"),
     "bob@example.org", False, True),
    (Reply(550, "5.7.1 <news@example.org>: Sender address rejected: Access denied", "RCPT"),
     "bob@example.org", False, True),
    (Reply(550, "5.1.1 <bob@example.org>: mailbox unavailable", "DATA"), "bob@example.org",
     True, False),
    (Reply(550, "5.1.1 <user@xn--mnchen-3ya.de>: unknown", "DATA"), "user@münchen.de", True,
     False),
    (Reply(550, "5.1.1 mailbox unavailable", "DATA"), "bob@example.org", False, False),
    (Reply(554, "5.7.1 rejected by policy", "RCPT"), "bob@example.org", False, False),
    (Reply(451, "4.1.1 try later", "RCPT"), "bob@example.org", False, False),
])
def test_what_a_reply_says_about_the_reader(reply: Reply, recipient: str, bounces: bool,
                                           sender_refused: bool) -> None:
    assert reply.mailbox_unknown(recipient) is bounces
    assert reply.sender_refused is sender_refused


def test_a_malformed_sender_never_reaches_the_server_as_a_recipient_problem() -> None:
    """Even past the config check (a Config built in code), it stops as a refused sender."""
    recorder = Recorder()
    with SMTPServer(recorder) as server, \
            SMTPTransport(SMTPSettings.from_url(server.url)) as transport:
        reply = transport.send(Envelope("news letter@example.org", "ann@example.org",
                                        b"Subject: x\r\n\r\nhi\r\n"))
    assert reply.stage == "MAIL" and reply.sender_refused
    assert not reply.mailbox_unknown("ann@example.org") and recorder.messages == []


def test_a_malformed_from_address_stops_before_anything_is_queued(project: Project) -> None:
    prepare_project(project, READERS)
    toml = project.root / "newsletter.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace(
        'from_address = "news@example.org"', 'from_address = "news letter@example.org"'),
        encoding="utf-8")
    recorder = Recorder()
    with SMTPServer(recorder) as server:
        result = _run("send", "--date", DATE, "--transport", "smtp", "--smtp-url", server.url)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: newsletter.toml: 'from_address': 'news "
                                    "letter@example.org' is not a valid address")
    assert recorder.messages == []
    toml.write_text(toml.read_text(encoding="utf-8").replace("news letter@", "news@"),
                    encoding="utf-8")
    assert _ledger(project) == {}
    assert sorted(_subscribers(project).values()) == ["active"] * 3 + ["bounced",
                                                                       "unsubscribed"]


INTERNATIONAL = [("user@münchen.de", "Üser", ""), ("ann@xn--bcher-kva.de", "Ann", ""),
                 ("josé@example.org", "José", ""), ("bob@example.org", "Bob", "")]


def _envelopes(recorder: Recorder) -> dict[str, tuple[list[str], bytes]]:
    return {rcpts[0]: (options, content) for (_, rcpts, content), options
            in zip(recorder.messages, recorder.mail_options, strict=True)}


def test_internationalised_addresses_are_sent_with_idna_and_smtputf8(project: Project) -> None:
    prepare_project(project, INTERNATIONAL)
    assert set(_subscribers(project)) == {"user@münchen.de", "ann@bücher.de",
                                          "josé@example.org", "bob@example.org"}
    recorder = Recorder(pipelining=True)
    with SMTPServer(recorder, smtputf8=True) as server:
        result = _run("send", "--date", DATE, "--transport", "smtp", "--smtp-url", server.url)
    assert result.stdout.startswith(f"{DATE}: 4 sent, 0 failed"), result.output
    sent = _envelopes(recorder)
    assert set(sent) == {"user@xn--mnchen-3ya.de", "ann@xn--bcher-kva.de", "josé@example.org",
                         "bob@example.org"}
    names = {"user@xn--mnchen-3ya.de": "Üser", "ann@xn--bcher-kva.de": "Ann",
             "josé@example.org": "José", "bob@example.org": "Bob"}
    for address, (options, content) in sent.items():
        to = email.message_from_string(content.decode(), policy=policy.SMTPUTF8)["To"]
        assert (to.addresses[0].display_name, to.addresses[0].addr_spec) == \
            (names[address], address)
        assert ("SMTPUTF8" in options) is (not address.isascii())
        assert content.isascii() is address.isascii()


def test_a_utf8_mailbox_fails_alone_on_a_server_without_smtputf8(project: Project) -> None:
    prepare_project(project, INTERNATIONAL)
    recorder = Recorder()
    with SMTPServer(recorder) as server:
        result = _run("send", "--date", DATE, "--transport", "smtp", "--smtp-url", server.url)
    assert result.stdout.startswith(f"{DATE}: 3 sent, 1 failed, 0 bounced"), result.output
    assert "josé@example.org" not in _envelopes(recorder)
    status = _run("status", "--date", DATE).stdout
    assert "failed  josé@example.org  (1 attempt(s)): 553 5.6.7 (local) josé@example.org has " \
        "a non-ASCII local part and 127.0.0.1:" in status and "SMTPUTF8" in status
    assert _subscribers(project)["josé@example.org"] == "active"


@pytest.mark.parametrize("url,problem", [
    ("smtp://[::1:2611", "is not a valid URL: an IPv6 address goes in brackets"),
    ("smtp://127.0.0.1:99999", "has an invalid port"),
    ("smtp://127.0.0.1:2x5", "has an invalid port"),
    ("smtp://127.0.0.1:0", "has an invalid port"),
    ("http://127.0.0.1:25", "must look like smtp://"),
])
def test_an_unusable_smtp_url_is_one_line(project: Project, url: str, problem: str) -> None:
    prepare_project(project, READERS)
    given = _run("send", "--date", DATE, "--transport", "smtp", "--smtp-url", url)
    assert given.exit_code == 2 and given.stderr.count("\n") == 1
    assert given.stderr.startswith(f"error: the SMTP URL {problem}")
    assert _ledger(project) == {}
    with open(project.root / "newsletter.toml", "a", encoding="utf-8") as handle:
        handle.write(f'smtp_url = "{url}"\n')
    configured = _run("send", "--date", DATE, "--transport", "smtp")
    assert configured.exit_code == 2 and configured.stderr.count("\n") == 1
    assert f"'delivery.smtp_url': {problem}" in configured.stderr


def test_an_ipv6_smtp_url_in_brackets_is_accepted() -> None:
    settings = SMTPSettings.from_url("smtp://mailer@[::1]:2525")
    assert (settings.host, settings.port, settings.user) == ("::1", 2525, "mailer")
