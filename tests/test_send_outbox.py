"""`newsletter send` with the outbox transport, --to, --dry-run and `status`."""

from __future__ import annotations

import email
import io
from email import policy
from pathlib import Path

from click.testing import CliRunner

from newsletter.audience.tokens import signer_for
from newsletter.cli import cli
from newsletter.delivery.progress import Progress
from newsletter.delivery.transports import Envelope
from newsletter.delivery.transports.outbox import OutboxTransport, safe_name
from newsletter.store import open_store
from support.project import Project
from support.smtp import DATE, prepare_project

READERS = [("ann@example.org", "Ann", ""), ("bob@example.org", "", ""),
           ("zoe@example.org", "Zoë", ""), ("gone@example.org", "Gone", "unsubscribed")]


def _run(*args: str):
    return CliRunner().invoke(cli, list(args))


def _sent_folder(project: Project) -> Path:
    return project.root / "outbox" / DATE / "sent"


def test_outbox_writes_one_message_per_active_subscriber(project: Project) -> None:
    prepare_project(project, READERS)
    result = _run("send", "--date", DATE)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{DATE}: 3 sent, 0 failed, 0 bounced, 0 skipped")
    files = sorted(path.name for path in _sent_folder(project).iterdir())
    assert files == ["ann@example.org.eml", "bob@example.org.eml", "zoe@example.org.eml"]
    config = project.config()
    with open_store(config) as store:
        ids = {s.email: s.id for s in store.iter_subscribers()}
    for path in _sent_folder(project).iterdir():
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        address = message["To"].addresses[0].addr_spec
        assert path.name == f"{address}.eml"
        token = message["List-Unsubscribe"].split("token=")[1].split(">")[0]
        assert signer_for(config).verify(token) == ids[address]
    status = _run("status", "--date", DATE)
    assert status.stdout.startswith(f"{DATE}: 3 sent, 0 pending, 0 sending")


def test_a_second_run_sends_only_to_new_subscribers(project: Project) -> None:
    prepare_project(project, READERS)
    assert _run("send", "--date", DATE).exit_code == 0
    first = {p: p.stat().st_mtime_ns for p in _sent_folder(project).iterdir()}
    assert _run("send", "--date", DATE).stdout == f"{DATE}: nothing to send (3 sent before)\n"
    assert _run("subscribers", "add", "new@example.org").exit_code == 0
    again = _run("send", "--date", DATE)
    assert again.stdout.startswith(f"{DATE}: 1 sent")
    for path, mtime in first.items():
        assert path.stat().st_mtime_ns == mtime, f"{path.name} was written twice"


def test_subscriber_who_left_after_queueing_is_skipped(project: Project) -> None:
    prepare_project(project, READERS)
    with open_store(project.config()) as store:
        store.enqueue(DATE)
        store.set_status(store.subscriber("bob@example.org").id, "unsubscribed")
    result = _run("send", "--date", DATE)
    assert result.stdout.startswith(f"{DATE}: 2 sent, 0 failed, 0 bounced, 1 skipped")
    assert not (_sent_folder(project) / "bob@example.org.eml").exists()


def test_to_sends_one_test_copy_and_records_nothing(project: Project) -> None:
    prepare_project(project, READERS)
    result = _run("send", "--date", DATE, "--to", "Editor@Example.org")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("test copy sent to Editor@Example.org: 250")
    test_copy = project.root / "outbox" / DATE / "test" / "editor@example.org.eml"
    message = email.message_from_bytes(test_copy.read_bytes(), policy=policy.default)
    assert str(message["To"]) == "editor@example.org"
    assert _run("send", "--date", DATE, "--to", "editor@example.org").exit_code == 0
    again = email.message_from_bytes(test_copy.read_bytes(), policy=policy.default)
    assert again["Message-ID"] != message["Message-ID"]  # not taken for a duplicate
    assert not _sent_folder(project).exists()
    assert _run("status", "--date", DATE).stdout.startswith(f"{DATE}: 0 sent, 0 pending")


def test_dry_run_lists_recipients_and_sends_nothing(project: Project) -> None:
    prepare_project(project, READERS)
    with open_store(project.config()) as store:  # a name that slipped past validation
        store.upsert_subscribers([("eve@example.org", "Eve\r\nBcc: x@evil.org", "active")])
    result = _run("send", "--date", DATE, "--dry-run")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "ann@example.org\tAnn", "bob@example.org", "zoe@example.org\tZoë",
        "eve@example.org\tEve\\r\\nBcc: x@evil.org\t(would fail: recipient name contains a "
        "line break)"]
    assert "4 subscriber(s) would get" in result.stderr
    assert not (project.root / "outbox").exists()
    sent = _run("send", "--date", DATE)
    assert sent.stdout.startswith(f"{DATE}: 3 sent, 1 failed")
    assert "failed  eve@example.org  (0 attempt(s)): not sent: recipient name contains a line " \
        "break" in _run("status", "--date", DATE).stdout


def test_no_issue_file_is_one_clear_error(project: Project) -> None:
    prepare_project(project, READERS)
    result = _run("send", "--date", "2025-12-05")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: seeds/issues/2025-12-05.md: no issue for 2025-12-05")
    assert result.stderr.count("\n") == 1


def test_safe_file_names() -> None:
    assert safe_name("ann@example.org") == "ann@example.org.eml"
    odd = safe_name("a/b@example.org")
    assert "/" not in odd and odd != safe_name("a_b@example.org")
    assert safe_name("user@münchen.de") == "user@xn--mnchen-3ya.de.eml"
    utf8 = safe_name("josé@example.org")
    assert utf8.isascii() and utf8.startswith("jos_@example.org-") and utf8.endswith(".eml")
    assert utf8 != safe_name("josè@example.org") != safe_name("jos_@example.org")


def test_internationalised_addresses_get_their_files(project: Project) -> None:
    prepare_project(project, [("user@münchen.de", "Üser", ""), ("josé@example.org", "José", ""),
                              ("ann@example.org", "Ann", "")])
    result = _run("send", "--date", DATE)
    assert result.stdout.startswith(f"{DATE}: 3 sent, 0 failed"), result.output
    files = {path.name: path.read_bytes() for path in _sent_folder(project).iterdir()}
    assert set(files) == {"ann@example.org.eml", "user@xn--mnchen-3ya.de.eml",
                          safe_name("josé@example.org")}
    idn = email.message_from_bytes(files["user@xn--mnchen-3ya.de.eml"], policy=policy.default)
    assert idn["To"].addresses[0].addr_spec == "user@xn--mnchen-3ya.de"
    utf8 = email.message_from_string(files[safe_name("josé@example.org")].decode(),
                                     policy=policy.SMTPUTF8)
    assert utf8["To"].addresses[0].addr_spec == "josé@example.org"
    assert "0 pending" in _run("status", "--date", DATE).stdout


def test_transport_contract_reports_each_reply_before_the_next(tmp_path: Path) -> None:
    transport = OutboxTransport(tmp_path / "sent")
    seen: list[str] = []

    def on_reply(envelope: Envelope, reply) -> None:
        assert reply.ok and (tmp_path / "sent" / f"{envelope.recipient}.eml").exists()
        assert len(list((tmp_path / "sent").iterdir())) == len(seen) + 1  # not the next yet
        seen.append(envelope.recipient)

    envelopes = [Envelope("news@example.org", f"r{i}@example.org", b"Subject: x\r\n\r\nhi\r\n")
                 for i in range(3)]
    with transport:
        assert transport.send_messages(envelopes, on_reply) == 3
    assert seen == ["r0@example.org", "r1@example.org", "r2@example.org"]


def test_progress_bar_on_a_terminal_and_lines_otherwise() -> None:
    terminal = io.StringIO()
    bar = Progress(200, terminal, tty=True)
    bar.advance(50)
    bar.refresh()
    bar.finish()
    assert "\r[#######---------------------] 50/200 (25%)" in terminal.getvalue()
    assert "msg/s, ETA " in terminal.getvalue()
    log = io.StringIO()
    lines = Progress(2500, log, tty=False, every=1000)
    for _ in range(25):
        lines.advance(100)
        lines.refresh()
    assert [line.split(" (")[0] for line in log.getvalue().splitlines()] == \
        ["sent 1,000/2,500", "sent 2,000/2,500"]
