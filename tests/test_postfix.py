"""Through a real MTA: Debian's Postfix on 127.0.0.1, delivering to local Maildirs.

The signed messages that Postfix delivered verify with dkimpy against the published key (a
DNS stub), read back from the Maildir; Postfix's own DSNs are classified as bounces.
"""

from __future__ import annotations

import datetime as dt
import email
import smtplib
import socket
from collections.abc import Iterator
from email import policy

import dkim
import pytest

from newsletter.audience.tokens import Signer
from newsletter.commands.compose import compose_issue
from newsletter.commands.dkim import keygen
from newsletter.delivery.bounces import Kind, Verifiers, classify, verp_address
from newsletter.mail.dkim import SIGNED_HEADERS, signer_for
from newsletter.mail.template import MessageTemplate
from support.postfix import Postfix, dkim_verifies, running_postfix
from support.project import Project

ISSUE = "2025-11-28"
BOUNCES = Signer(b"test-secret-0123456789abcdef", "bounces:research-update.example.org")


@pytest.fixture(scope="module")
def server() -> Iterator[Postfix]:
    with running_postfix() as postfix:
        yield postfix


@pytest.fixture
def mta(server: Postfix) -> Postfix:
    server.clear()
    return server


def _send(mta: Postfix, sender: str, recipients: list[str], data: bytes) -> None:
    with smtplib.SMTP(mta.host, mta.port, timeout=30) as smtp:
        smtp.sendmail(sender, recipients, data)


def _simple(to: str, subject: str = "hello") -> bytes:
    return (f"From: sender@news.test\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject}.{to}>\r\n\r\nHello.\r\n").encode()


def test_each_local_user_gets_exactly_one_message(mta: Postfix) -> None:
    _send(mta, mta.address("bounces"), [mta.address("ada"), mta.address("grace")],
          _simple("ada, grace"))
    for user in ("ada", "grace"):
        (delivered,) = mta.wait_for(user, 1)
        assert b"Subject: hello" in delivered and b"Delivered-To: " + \
            mta.address(user).encode() in delivered
    assert mta.messages("alan") == [] and mta.messages("bounces") == []


def test_it_listens_on_127_0_0_1_only(mta: Postfix) -> None:
    with socket.create_connection(("127.0.0.1", mta.port), timeout=5) as greeting:
        assert greeting.recv(100).startswith(b"220 ")
    with pytest.raises(OSError), socket.create_connection(("127.0.0.2", mta.port), timeout=5):
        pass


@pytest.mark.parametrize("recipient", ["nobody-here@news.test", "someone@gone.test"])
def test_an_unknown_user_gets_a_dsn_written_by_postfix(mta: Postfix, recipient: str) -> None:
    sender = verp_address(mta.address("bounces"), ISSUE, 7, BOUNCES.token)
    _send(mta, sender, [recipient], _simple(recipient))
    (dsn,) = mta.wait_for("bounces", 1)
    parsed = email.message_from_bytes(dsn, policy=policy.default)
    assert parsed["From"] == "Mail Delivery System <MAILER-DAEMON@news.test>"
    assert parsed["To"] == sender and parsed.get_content_type() == "multipart/report"
    event = classify(dsn, Verifiers(BOUNCES.verify))
    assert (event.kind, event.recipient, event.status, event.issue, event.subscriber_id) == \
        (Kind.HARD, recipient, "5.1.1", ISSUE, 7)


def test_a_temporary_failure_brings_a_delayed_notice(mta: Postfix) -> None:
    sender = verp_address(mta.address("bounces"), ISSUE, 8, BOUNCES.token)
    _send(mta, sender, ["reader@full.test"], _simple("reader@full.test"))
    (dsn,) = mta.wait_for("bounces", 1)
    event = classify(dsn, Verifiers(BOUNCES.verify))
    assert (event.kind, event.recipient, event.status, event.subscriber_id) == \
        (Kind.SOFT, "reader@full.test", "4.2.2", 8)


def test_nothing_leaves_the_machine(mta: Postfix) -> None:
    _send(mta, mta.address("bounces"), ["someone@example.com"], _simple("someone@example.com"))
    (dsn,) = mta.wait_for("bounces", 1)
    assert b"delivers nowhere else" in dsn
    assert "to=<someone@example.com>, relay=none" in mta.log()


def _verifies(data: bytes, published: dict[str, bytes]) -> list[bool]:
    return dkim_verifies(data, published, "2025-11._domainkey.example.org.")


def test_signed_messages_verify_after_postfix_and_the_maildir(mta: Postfix,
                                                             project: Project) -> None:
    project.add_paper("a-paper", title="Tokens  & layers", published="2025-11-01")
    project.add_issue(ISSUE, ["a-paper"])
    config = project.config()
    report = keygen(config, "2025-11")  # the default place: signing needs nothing more
    published = {record.split("k=")[1].split(";")[0]: "".join(record.split('"')[1::2]).encode()
                 for record in report.records}
    published = {"rsa-sha256": published["rsa"], "ed25519-sha256": published["ed25519"]}
    signer = signer_for(config)
    assert signer is not None and signer.domain == "example.org"
    now = dt.datetime(2025, 11, 28, 9, 0, tzinfo=dt.UTC)
    rendered = compose_issue(config, dt.date(2025, 11, 28), now=now).built.rendered
    template = MessageTemplate(rendered, config, dt.date(2025, 11, 28),
                               Signer(b"k" * 32, "research-update.example.org").token, now)
    readers = {"ada": (1, "Ada Lovelace"), "grace": (2, "Grace  \"Amazing\" Hopper")}
    for user, (subscriber_id, name) in readers.items():
        data = signer.sign(template.build(subscriber_id, mta.address(user), name))
        sender = verp_address(mta.address("bounces"), ISSUE, subscriber_id, BOUNCES.token)
        _send(mta, sender, [mta.address(user)], data)
    for user in readers:
        (delivered,) = mta.wait_for(user, 1)
        assert b"\r\n" not in delivered  # the Maildir holds LF line ends: re-read, not resent
        head = delivered.split(b"\n\n", 1)[0]
        assert head.index(b"Delivered-To: ") < head.index(b"DKIM-Signature: ")
        assert _verifies(delivered, published) == [True, True]
        tags = dkim.util.parse_tag_value(dkim.rfc822_parse(delivered)[0][
            [n.lower() for n, _ in dkim.rfc822_parse(delivered)[0]].index(b"dkim-signature")][1])
        signed = [name.strip() for name in tags[b"h"].split(b":")]
        assert signed.count(b"list-unsubscribe") == 2
        assert signed.count(b"list-unsubscribe-post") == 2
        assert all(signed.count(name) >= 2 for name in SIGNED_HEADERS)
        tampered = delivered.replace(b"\nList-Unsubscribe:",
                                     b"\nList-Unsubscribe: <https://evil.example/>\n"
                                     b"List-Unsubscribe:", 1)
        assert _verifies(tampered, published) == [False, False]
