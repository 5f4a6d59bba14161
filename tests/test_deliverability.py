"""Deliverability end to end, through Debian's Postfix on 127.0.0.1 (tests/support/postfix.py).

`newsletter send` delivers an issue through Postfix to local readers, each message with its
own VERP return path; Postfix's own DSN for a reader it has no mailbox for comes back to that
return path; `newsletter bounces --maildir` marks exactly that reader bounced, a second run
changes nothing, and an ARF report (RFC 5965's example, about one reader's copy) unsubscribes
its reader. The copies Postfix delivered verify with dkimpy against the published keys (a
DNS stub). Also here: the EHLO name, the return path and Feedback-ID of MessageTemplate.
"""

from __future__ import annotations

import datetime as dt
import email
import smtplib
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.commands import send as send_module
from newsletter.commands.bounces import complaint_guard, issue_rates
from newsletter.commands.dkim import keygen
from newsletter.commands.send import message_template
from newsletter.config import Config
from newsletter.delivery.bounces import bounce_signer, verp_address
from newsletter.delivery.transports import smtp as smtp_module
from newsletter.delivery.transports.base import Envelope
from newsletter.delivery.transports.smtp import SMTPSettings, SMTPTransport, ehlo_name
from newsletter.errors import DeliveryError
from newsletter.mail.template import MessageTemplate
from newsletter.store import open_store
from support.postfix import Postfix, dkim_verifies, running_postfix
from support.project import Project
from support.smtp import DATE, SECRET, Recorder, SMTPServer, prepare_project

DOMAIN = "example.org"  # the project's From domain, delivered locally by the test's Postfix
READERS = ("ada", "grace", "alan")
MISSING = "nobody-here"  # no mailbox: Postfix accepts, then bounces with a DSN of its own
ARF = Path(__file__).parent / "bounces" / "arf-rfc5965.eml"


@pytest.fixture(scope="module")
def mta() -> Iterator[Postfix]:
    with running_postfix(domain=DOMAIN) as postfix:
        yield postfix


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_SECRET", SECRET)


    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _published(config: Config) -> dict[str, bytes]:
    report = keygen(config, "2025-11")
    keys = {record.split("k=")[1].split(";")[0]: "".join(record.split('"')[1::2]).encode()
            for record in report.records}
    return {"rsa-sha256": keys["rsa"], "ed25519-sha256": keys["ed25519"]}


def _verifies(data: bytes, published: dict[str, bytes]) -> list[bool]:
    return dkim_verifies(data, published, f"2025-11._domainkey.{DOMAIN}.")


def _run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def _statuses(config: Config) -> dict[str, str]:
    with open_store(config) as store:
        return {s.email.partition("@")[0]: s.status for s in store.iter_subscribers()}


def _complaint_about(copy: bytes, return_path: str, reader: str) -> bytes:
    """RFC 5965's example report (Appendix B.2), about our reader's copy instead of spam."""
    report = ARF.read_bytes().replace(b"\r\n", b"\n").decode()
    head, _, _spam = report.partition("Content-Disposition: inline\n\n")
    head = head.replace("Original-Mail-From: <somespammer@example.net>",
                        f"Original-Mail-From: <{return_path}>")
    head = head.replace("user@example.com", reader)
    returned = copy.decode().partition("\n")[2]  # without Postfix's Return-Path line
    return (f"{head}Content-Disposition: inline\n\n{returned}\n"
            "--part1_13d.2e68ed54_boundary--\n").encode()


def _deliver(mta: Postfix, sender: str, data: bytes) -> None:
    with smtplib.SMTP(mta.host, mta.port, timeout=30) as client:
        client.sendmail(sender, [mta.address("bounces")], data)


def test_send_bounce_and_complain_through_postfix(project: Project, mta: Postfix) -> None:
    mta.clear()
    prepare_project(project, [(mta.address(u), u.title(), "") for u in (*READERS, MISSING)])
    config = project.config()
    published = _published(config)
    sent = _run("send", "--date", DATE, "--transport", "smtp",
                "--smtp-url", f"smtp://{mta.host}:{mta.port}")
    assert sent.exit_code == 0, sent.output
    with open_store(config) as store:
        ids = {s.email: s.id for s in store.iter_subscribers()}
    verp = bounce_signer(config).token
    copies = {}
    for user in READERS:
        (copies[user],) = mta.wait_for(user, 1)
        message = email.message_from_bytes(copies[user])
        assert message["Return-Path"] == \
            f"<{verp_address(f'bounces@{DOMAIN}', DATE, ids[mta.address(user)], verp)}>"
        assert message["Feedback-ID"] == f"{DATE}:research-update.{DOMAIN}:newsletter:{DOMAIN}"
        assert _verifies(copies[user], published) == [True, True]
    (dsn,) = mta.wait_for("bounces", 1)
    assert b"MAILER-DAEMON" in dsn and f"bounces+{DATE}.{ids[f'{MISSING}@{DOMAIN}']}.".encode() \
        in dsn

    bounces = mta.maildir("bounces")
    first = _run("bounces", "--maildir", str(bounces))
    assert first.exit_code == 0, first.output
    assert f"bounced       {MISSING}@{DOMAIN}" in first.stdout
    assert "1 processed (1 hard bounce(s)" in first.stdout
    assert _statuses(config) == {"ada": "active", "grace": "active", "alan": "active",
                                 MISSING: "bounced"}
    assert mta.messages("bounces") == [] and len(list((bounces / ".processed" / "cur")
                                                      .iterdir())) == 1
    again = _run("bounces", "--maildir", str(bounces))
    assert again.exit_code == 0 and ": 0 processed" in again.stdout, again.output

    ada = mta.address("ada")
    return_path = email.message_from_bytes(copies["ada"])["Return-Path"].strip("<>")
    _deliver(mta, "fbl@mail.example.com", _complaint_about(copies["ada"], return_path, ada))
    mta.wait_for("bounces", 1)
    complained = _run("bounces", "--maildir", str(bounces))
    assert complained.exit_code == 0, complained.output
    assert f"unsubscribed  {ada}" in complained.stdout
    assert _statuses(config)["ada"] == "unsubscribed"
    assert _statuses(config)["grace"] == "active"
    assert ": 0 processed" in _run("bounces", "--maildir", str(bounces)).stdout

    rates = issue_rates(config, dt.date.fromisoformat(DATE))
    assert (rates.sent, rates.hard, rates.soft, rates.complaints) == (4, 1, 0, 1)
    assert rates.line() == "bounces: 1 hard, 0 soft (25.00% of 4 sent); complaints: 1 (25.00%)"
    later = dt.date(2025, 12, 5)
    with pytest.raises(DeliveryError) as refused:
        complaint_guard(config, later)
    assert refused.value.code == "complaint-rate"
    assert "the 2025-11-28 issue's complaint rate is 25.00% (1 of 4)" in refused.value.detail
    assert (complaint_guard(config, later, force=True) or "").startswith("--force: sending")
    assert complaint_guard(config, dt.date.fromisoformat(DATE)) is None  # a resumed issue


# -- the EHLO name ----------------------------------------------------------------------------


class _Greeted(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        self.names.append(hostname)
        return await super().handle_EHLO(server, session, envelope, hostname, responses)


def _greeting(settings: SMTPSettings, recorder: _Greeted) -> str:
    with SMTPTransport(settings) as transport:
        transport.send(Envelope("news@example.org", "ada@example.org",
                                b"Subject: hi\r\n\r\nhi\r\n"))
    return recorder.names[-1]


@pytest.fixture
def fqdn(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Set what socket.getfqdn() says this machine is called."""

    def set_name(name: str) -> None:
        monkeypatch.setattr(socket, "getfqdn", lambda *args: name)
        smtp_module._qualified_hostname.cache_clear()

    yield set_name
    smtp_module._qualified_hostname.cache_clear()


def test_the_ehlo_name_is_never_localhost_localdomain(fqdn: Any) -> None:
    recorder = _Greeted()
    with SMTPServer(recorder) as server:
        url = f"smtp://127.0.0.1:{server.port}"
        fqdn("localhost.localdomain")  # a container or a laptop: no name of its own
        assert _greeting(SMTPSettings.from_url(url), recorder) == "[127.0.0.1]"
        fqdn("mx1.mail.example.net")
        assert _greeting(SMTPSettings.from_url(url), recorder) == "mx1.mail.example.net"
        settings = SMTPSettings.from_url(url, ehlo_name="out.example.org")
        assert _greeting(settings, recorder) == "out.example.org"


def test_ehlo_name_setting_then_this_machine_then_the_from_domain(project: Project,
                                                                  fqdn: Any) -> None:
    config = project.config()
    fqdn("a1b2c3d4")  # a container's bare host name
    assert ehlo_name(config) == "example.org"
    for private in ("localhost", "build.localdomain", "box.local", "vm.internal"):
        fqdn(private)
        assert ehlo_name(config) == "example.org", private
    fqdn("sender7.example.net")
    assert ehlo_name(config) == "sender7.example.net"
    delivery = config.delivery.model_copy(update={"ehlo_name": "mail.example.org"})
    assert ehlo_name(config.model_copy(update={"delivery": delivery})) == "mail.example.org"
    bad = config.delivery.model_copy(update={"ehlo_name": "bad name\r\nRSET"})
    with pytest.raises(DeliveryError, match="is not a host name"):
        ehlo_name(config.model_copy(update={"delivery": bad}))


# -- the return path and Feedback-ID ------------------------------------------------------------


def test_each_reader_has_a_signed_return_path_within_64_characters(project: Project) -> None:
    prepare_project(project, 1)
    config = project.config()
    date = dt.date.fromisoformat(DATE)
    plain = MessageTemplate(send_module.render_for_sending(config, date), config, date, None,
                            dt.datetime.now(dt.UTC))
    assert plain.envelope_sender(7) == "bounces@example.org"  # no VERP signer: the bare box
    assert message_template(config, date).envelope_sender(7).startswith(f"bounces+{DATE}.7.")
    signer = bounce_signer(config)
    template = MessageTemplate(send_module.render_for_sending(config, date), config, date,
                               None, dt.datetime.now(dt.UTC), verp=signer.token)
    for subscriber_id in (1, 10**12 - 1):
        sender = template.envelope_sender(subscriber_id)
        assert sender == verp_address("bounces@example.org", DATE, subscriber_id, signer.token)
        assert sender.isascii() and len(sender.partition("@")[0]) <= 64
    assert template.envelope_sender(None) == "bounces@example.org"
    data = template.build(1, "ada@example.org", "Ada")
    head = data.split(b"\r\n\r\n", 1)[0]
    assert head.count(b"\r\nFeedback-ID: ") == 1
    assert b"\r\nFeedback-ID: 2025-11-28:research-update.example.org:newsletter:example.org\r\n" \
        in head
    for address in ("bounces+x@example.org", "b\u00f6unces@example.org",
                    "a-very-long-bounce-mailbox-name-for-verp@example.org"):
        delivery = config.delivery.model_copy(update={"bounce_address": address})
        with pytest.raises(DeliveryError) as refused:
            MessageTemplate(send_module.render_for_sending(config, date),
                            config.model_copy(update={"delivery": delivery}), date, None,
                            dt.datetime.now(dt.UTC))
        assert refused.value.code == "bounce-address"
