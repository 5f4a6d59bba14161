"""Bounces and complaints: every sample of tests/bounces/ classified, VERP in and out."""

from __future__ import annotations

import datetime as dt
import mailbox
from pathlib import Path

import pytest

from newsletter.audience.tokens import Signer
from newsletter.commands.compose import compose_issue
from newsletter.delivery.bounces import (
    BounceEvent,
    Kind,
    Verifiers,
    Verp,
    classify,
    parse_verp,
    verp_address,
)
from newsletter.mail.template import MessageTemplate
from support.project import Project

SAMPLES = Path(__file__).parent / "bounces"
SECRET = b"corpus-secret-0123456789abcdef"  # see tests/bounces/README.md
LIST_ID = "research-update.news.test"
VERP_SIGNER = Signer(SECRET, f"bounces:{LIST_ID}")
UNSUBSCRIBE_SIGNER = Signer(SECRET, LIST_ID)
VERIFIERS = Verifiers(VERP_SIGNER.verify, UNSUBSCRIBE_SIGNER.verify)
ISSUE = "2025-11-28"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def test_every_sample_has_a_test_and_a_line_in_the_readme() -> None:
    names = sorted(path.name for path in SAMPLES.glob("*.eml"))
    assert names == sorted(EXPECTED)
    readme = (SAMPLES / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in names)


EXPECTED = {
    "postfix-unknown-user.eml": BounceEvent(
        Kind.HARD, "gone-reader@news.test", ISSUE, 12, "5.1.1",
        'X-Postfix; unknown user: "gone-reader@news.test"',
        "<20251128.12.3f2a9c41d0@news.test>", ("gone-reader@news.test",)),
    "postfix-delayed.eml": BounceEvent(
        Kind.SOFT, "reader@full.test", ISSUE, 13, "4.2.2",
        "X-Postfix; mailbox full (the test's remote)",
        "<20251128.13.3f2a9c41d0@news.test>", ("reader@full.test",), delayed=True),
    "exim-dsn.eml": BounceEvent(
        Kind.HARD, "reader@example.net", ISSUE, 14, "5.1.1",
        "smtp; 550 5.1.1 <reader@example.net>: Recipient address rejected: User unknown in "
        "virtual mailbox table", "<20251128.14.3f2a9c41d0@news.test>", ("reader@example.net",)),
    "exim-plain.eml": BounceEvent(
        Kind.HARD, "old-reader@example.org", ISSUE, 17, recipients=("old-reader@example.org",)),
    "gmail-dsn.eml": BounceEvent(
        Kind.HARD, "nobody.here.2025@gmail.com", ISSUE, 15, "5.1.1", None,
        "<20251128.15.3f2a9c41d0@news.test>", ("nobody.here.2025@gmail.com",)),
    "gmail-over-quota.eml": BounceEvent(
        Kind.SOFT, "full.inbox@gmail.com", ISSUE, 16, "5.2.2", None,
        "<20251128.16.3f2a9c41d0@news.test>", ("full.inbox@gmail.com",)),
    "arf-rfc5965.eml": BounceEvent(
        Kind.COMPLAINT, "user@example.com", reason="abuse",
        message_id="8787KJKJ3K4J3K4J3K4J3.mail@example.net", recipients=("user@example.com",)),
    "vacation-auto-reply.eml": BounceEvent(Kind.UNCLASSIFIABLE),
}


def _without_long_reason(event: BounceEvent, expected: BounceEvent) -> BounceEvent:
    """Gmail's diagnostic is a paragraph: its start is checked, not its every word."""
    if expected.reason is None and event.reason and event.reason.startswith("smtp; "):
        return BounceEvent(event.kind, event.recipient, event.issue, event.subscriber_id,
                           event.status, None, event.message_id, event.recipients)
    return event


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_sample(name: str) -> None:
    event = classify(sample(name), VERIFIERS)
    assert _without_long_reason(event, EXPECTED[name]) == EXPECTED[name]


def test_the_gmail_diagnostics_are_kept_whole_on_one_line() -> None:
    hard = classify(sample("gmail-dsn.eml"), VERIFIERS).reason or ""
    assert hard.startswith("smtp; The email account that you tried to reach does not exist.")
    assert "\n" not in hard and "gsmtp" in hard
    full = classify(sample("gmail-over-quota.eml"), VERIFIERS).reason or ""
    assert "out of storage space" in full


def test_without_verifiers_nothing_is_attributed() -> None:
    event = classify(sample("postfix-unknown-user.eml"))
    assert (event.kind, event.recipient, event.issue, event.subscriber_id) == \
        (Kind.HARD, "gone-reader@news.test", None, None)


def test_a_forged_return_path_attributes_no_one() -> None:
    other = Verifiers(Signer(b"another-secret-0123456789", f"bounces:{LIST_ID}").verify)
    event = classify(sample("exim-dsn.eml"), other)
    assert event.kind is Kind.HARD and event.issue is None and event.subscriber_id is None


def test_the_envelope_recipient_comes_first() -> None:
    address = verp_address("bounces@news.test", "2025-12-05", 99, VERP_SIGNER.token)
    event = classify(sample("postfix-unknown-user.eml"), VERIFIERS, envelope_recipient=address)
    assert (event.issue, event.subscriber_id) == ("2025-12-05", 99)


def test_verp_addresses_round_trip_and_refuse_forgeries() -> None:
    address = verp_address("bounces@news.test", ISSUE, 12, VERP_SIGNER.token)
    assert address == f"bounces+{ISSUE}.{VERP_SIGNER.token(12)}@news.test"
    assert parse_verp(address, VERP_SIGNER.verify) == Verp(ISSUE, 12)
    assert parse_verp(f"<{address}>", VERP_SIGNER.verify) == Verp(ISSUE, 12)
    assert parse_verp(f"rfc822; {address}", VERP_SIGNER.verify) == Verp(ISSUE, 12)
    assert parse_verp(address.replace(".12.", ".13."), VERP_SIGNER.verify) is None
    assert parse_verp(address, UNSUBSCRIBE_SIGNER.verify) is None  # another key
    assert parse_verp(address.replace("bounces+", "news+"), VERP_SIGNER.verify) is None
    assert parse_verp("bounces@news.test", VERP_SIGNER.verify) is None
    assert parse_verp("bounces+2025-11-28@news.test", VERP_SIGNER.verify) is None
    with pytest.raises(ValueError):
        verp_address("bounces@news.test", "2025.11", 1, VERP_SIGNER.token)


def _report(feedback_type: str, third_part: str, fields: str = "") -> bytes:
    return ("From: <staff@fbl.example.com>\r\nTo: <fbl@news.test>\r\n"
            "Subject: complaint\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=feedback-report;\r\n"
            ' boundary="b1"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\n'
            "A complaint about mail from your address.\r\n\r\n"
            "--b1\r\nContent-Type: message/feedback-report\r\n\r\n"
            f"Feedback-Type: {feedback_type}\r\nUser-Agent: FBL/1.0\r\nVersion: 1\r\n{fields}"
            f"\r\n--b1\r\n{third_part}\r\n--b1--\r\n").encode()


@pytest.fixture
def our_message(project: Project) -> bytes:
    """One of our readers' messages, as the template builds it (its unsubscribe link signed)."""
    project.add_paper("a-paper", published="2025-11-01")
    project.add_issue(ISSUE, ["a-paper"])
    config = project.config()
    now = dt.datetime(2025, 11, 28, 9, 0, tzinfo=dt.UTC)
    rendered = compose_issue(config, dt.date(2025, 11, 28), now=now).built.rendered
    template = MessageTemplate(rendered, config, dt.date(2025, 11, 28),
                               UNSUBSCRIBE_SIGNER.token, now)
    return template.build(21, "Reader@Example.org", "Ada")


def test_a_complaint_about_our_message_names_the_reader(our_message: bytes) -> None:
    """A redacted provider report (no Original-Rcpt-To), with our message's headers only."""
    headers = our_message.split(b"\r\n\r\n", 1)[0].decode()
    data = _report("abuse", f"Content-Type: text/rfc822-headers\r\n\r\n{headers}\r\n")
    event = classify(data, VERIFIERS)
    assert event.kind is Kind.COMPLAINT and event.reason == "abuse"
    assert event.recipient == "reader@example.org" and event.subscriber_id == 21
    assert event.message_id is not None and event.message_id.startswith("<20251128.")
    assert event.message_id.endswith("@example.org>")


def test_a_complaint_with_the_whole_message_and_the_verp_sender(our_message: bytes) -> None:
    address = verp_address("bounces@news.test", ISSUE, 21, VERP_SIGNER.token)
    data = _report("abuse", "Content-Type: message/rfc822\r\n\r\n" + our_message.decode(),
                   f"Original-Mail-From: <{address}>\r\n"
                   "Original-Rcpt-To: <reader@example.org>\r\n")
    event = classify(data, VERIFIERS)
    assert (event.kind, event.recipient, event.issue, event.subscriber_id) == \
        (Kind.COMPLAINT, "reader@example.org", ISSUE, 21)


def test_reports_that_are_not_complaints_are_unclassifiable(our_message: bytes) -> None:
    headers = our_message.split(b"\r\n\r\n", 1)[0].decode()
    for feedback in ("not-spam", "auth-failure"):
        data = _report(feedback, f"Content-Type: text/rfc822-headers\r\n\r\n{headers}\r\n")
        event = classify(data, VERIFIERS)
        assert event.kind is Kind.UNCLASSIFIABLE and event.reason == feedback


def test_a_success_notice_is_not_a_bounce() -> None:
    data = (b"From: MAILER-DAEMON@mx.example.org\r\nTo: bounces@news.test\r\n"
            b"Subject: Successful Mail Delivery Report\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n"
            b"--x\r\nContent-Type: text/plain\r\n\r\nDelivered.\r\n"
            b"--x\r\nContent-Type: message/delivery-status\r\n\r\n"
            b"Reporting-MTA: dns; mx.example.org\r\n\r\n"
            b"Final-Recipient: rfc822; reader@example.org\r\nAction: delivered\r\n"
            b"Status: 2.0.0\r\n\r\n--x--\r\n")
    assert classify(data, VERIFIERS).kind is Kind.UNCLASSIFIABLE


@pytest.mark.parametrize("status,kind", [
    ("5.1.1", Kind.HARD), ("5.1.10", Kind.HARD), ("5.2.1", Kind.HARD), ("5.4.4", Kind.HARD),
    ("5.0.0", Kind.HARD), ("5.2.2", Kind.SOFT), ("5.7.1", Kind.SOFT), ("5.3.4", Kind.SOFT),
    ("4.2.2", Kind.SOFT)])
def test_which_failures_are_hard(status: str, kind: Kind) -> None:
    data = (b"From: MAILER-DAEMON@mx.example.org\r\nTo: bounces@news.test\r\n"
            b"Subject: Undelivered Mail\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n"
            b"--x\r\nContent-Type: message/delivery-status\r\n\r\n"
            b"Reporting-MTA: dns; mx.example.org\r\n\r\n"
            b"Final-Recipient: rfc822; reader@example.org\r\nAction: failed\r\n"
            b"Status: " + status.encode() + b"\r\nDiagnostic-Code: smtp; 5xx refused\r\n"
            b"\r\n--x--\r\n")
    event = classify(data)
    assert (event.kind, event.status, event.recipient) == (kind, status, "reader@example.org")


# -- `newsletter bounces` on a Maildir ---------------------------------------------------------


def _dsn(to: str, recipient: str, status: str, action: str = "failed", tag: str = "") -> bytes:
    return (f"From: MAILER-DAEMON@mx.example.net\r\nTo: {to}\r\n"
            f"Message-ID: <dsn.{status}.{action}.{tag}@mx.example.net>\r\n"
            "Subject: Undelivered Mail\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n"
            "--x\r\nContent-Type: message/delivery-status\r\n\r\n"
            "Reporting-MTA: dns; mx.example.net\r\n\r\n"
            f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\n"
            f"Status: {status}\r\nDiagnostic-Code: smtp; {status} refused\r\n"
            "\r\n--x--\r\n").encode()


@pytest.fixture
def listed(project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """A project with three readers, a bounce Maildir, and `put(issue, reader, data)`."""
    from newsletter.delivery.bounces import bounce_signer
    from newsletter.store import open_store
    from support.smtp import SECRET, prepare_project

    monkeypatch.setenv("NEWSLETTER_SECRET", SECRET)
    prepare_project(project, [(f"{n}@example.org", n, "") for n in ("ada", "bob", "cy")])
    config = project.config()
    box = mailbox.Maildir(tmp_path / "bounces", create=True)
    with open_store(config) as store:
        ids = {s.email.partition("@")[0]: s.id for s in store.iter_subscribers()}

    def sent(issue: str) -> None:
        with open_store(config) as store:
            store.enqueue(issue)
            for claim in store.claim_batch(issue, "w", 10, 0.0 + 2e9):
                store.mark_sent(issue, claim.subscriber_id, "250 OK")

    def put(issue: str, reader: str, status: str, action: str = "failed") -> None:
        to = verp_address("bounces@example.org", issue, ids[reader], bounce_signer(config).token)
        box.add(_dsn(to, f"{reader}@example.org", status, action, issue))

    return config, tmp_path / "bounces", sent, put


def _process(config, folder: Path):
    from newsletter.commands.bounces import open_mailbox, process_bounces

    box = open_mailbox(config, maildir=folder)
    try:
        return process_bounces(config, box)
    finally:
        box.close()


def _status(config, reader: str) -> str:
    from newsletter.store import open_store

    with open_store(config) as store:
        return store.subscriber(f"{reader}@example.org").status


def test_soft_bounces_of_three_issues_in_a_row_mark_the_reader_bounced(listed) -> None:
    config, folder, sent, put = listed
    issues = ["2025-11-07", "2025-11-14", "2025-11-21", "2025-11-28", "2025-12-05"]
    for issue in issues:
        sent(issue)
    put(issues[0], "ada", "5.2.2")
    put(issues[1], "ada", "5.2.2")
    put(issues[1], "bob", "4.2.2", action="delayed")  # only delayed: nothing failed yet
    run = _process(config, folder)
    assert (run.soft, run.delayed, run.bounced, run.left) == (1 + 1, 1, [], [])
    put(issues[3], "ada", "5.2.2")  # issues[2] came through: the row starts again
    put(issues[4], "ada", "5.7.1")
    assert _process(config, folder).bounced == []
    put(issues[4], "ada", "5.2.2")  # a second report about the same issue counts once
    assert _process(config, folder).bounced == []
    assert _status(config, "ada") == "active"
    put("2025-12-12", "ada", "5.2.2")
    sent("2025-12-12")
    assert _process(config, folder).bounced == ["ada@example.org"]
    assert _status(config, "bob") == "active"
    assert sorted(folder.glob("new/*")) == [] and sorted(folder.glob("cur/*")) == []
    assert all(p.name.endswith(":2,S") for p in (folder / ".processed" / "cur").iterdir())


def test_forged_and_unknown_mail_is_left_in_place_and_reported(listed) -> None:
    config, folder, sent, put = listed
    sent(ISSUE)
    forged = verp_address("bounces@example.org", ISSUE, 1, VERP_SIGNER.token)  # another key
    box = mailbox.Maildir(folder, create=False)
    box.add(_dsn(forged, "ada@example.org", "5.1.1"))
    box.add(sample("vacation-auto-reply.eml"))
    run = _process(config, folder)
    assert run.processed == 0 and len(run.left) == 2
    assert sorted(why.split(":")[0] for _, why in run.left) == [
        "a hard report naming none of our readers", "neither a bounce nor a complaint"]
    assert _status(config, "ada") == "active" and len(list(folder.glob("new/*"))) == 2
    put(ISSUE, "bob", "5.1.1")
    run = _process(config, folder)
    assert run.bounced == ["bob@example.org"] and len(run.left) == 2


def test_a_reader_who_left_stays_as_they_are(listed) -> None:
    from newsletter.store import open_store

    config, folder, sent, put = listed
    sent(ISSUE)
    with open_store(config) as store:
        store.set_status(store.subscriber("cy@example.org").id, "unsubscribed")
    put(ISSUE, "cy", "5.1.1")
    run = _process(config, folder)
    assert (run.hard, run.bounced) == (1, []) and _status(config, "cy") == "unsubscribed"


def test_the_mailbox_options_are_one_line_errors(listed, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from newsletter.cli import cli

    config, folder, _, _ = listed
    runs = {}
    for name, args in {"none": [], "both": ["--maildir", str(folder), "--imap", "imaps://u@h/"],
                       "not-a-maildir": ["--maildir", str(tmp_path)],
                       "imap-password": ["--imap", "imaps://news@127.0.0.1/INBOX"],
                       "imap-url": ["--imap", "imaps://news:secret@127.0.0.1/INBOX"]}.items():
        with pytest.MonkeyPatch.context() as patch:
            patch.delenv("NEWSLETTER_IMAP_PASSWORD", raising=False)
            runs[name] = CliRunner().invoke(cli, ["bounces", *args])
    for name, result in runs.items():
        assert result.exit_code == 2, (name, result.output)
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, name
    assert "give --maildir DIR or --imap" in runs["none"].stderr
    assert "not both" in runs["both"].stderr
    assert "is not a Maildir" in runs["not-a-maildir"].stderr
    assert "NEWSLETTER_IMAP_PASSWORD is not set" in runs["imap-password"].stderr
    assert "must not hold a password" in runs["imap-url"].stderr
    assert "secret" not in runs["imap-url"].stderr
