"""Unsubscribe tokens: signed, bound to the list, refused when altered; the key file."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.audience.tokens import (
    SECRET_ENV,
    Signer,
    list_signer,
    load_secret,
    signer_for,
)
from newsletter.cli import cli
from newsletter.errors import DeliveryError
from support.project import Project


@pytest.fixture(autouse=True)
def _no_secret_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)


def test_token_round_trip_and_tampering() -> None:
    sign = Signer(b"s" * 32, "news.example.org")
    token = sign.token(42)
    assert sign.verify(token) == 42
    number, signature = token.split(".")
    altered = [f"43.{signature}", f"{number}.{signature[:-1]}A" if signature[-1] != "A"
               else f"{number}.{signature[:-1]}B", f"{number}.{'A' * 22}"]
    for bad in altered:
        with pytest.raises(DeliveryError, match="signature does not match"):
            sign.verify(bad)
    for malformed in ["", "42", "42.", "x.y", token + "x", "-1." + signature]:
        with pytest.raises(DeliveryError, match="malformed"):
            sign.verify(malformed)


def test_token_is_bound_to_list_and_secret() -> None:
    token = Signer(b"s" * 32, "one.example.org").token(7)
    with pytest.raises(DeliveryError):
        Signer(b"s" * 32, "two.example.org").verify(token)
    with pytest.raises(DeliveryError):
        Signer(b"t" * 32, "one.example.org").verify(token)


def test_key_file_is_made_once_with_mode_0600(tmp_path: Path) -> None:
    key = tmp_path / ".newsletter-secret"
    first = load_secret(key)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert load_secret(key) == first and len(first) >= 32
    key.chmod(0o644)
    with pytest.raises(DeliveryError, match="readable by other users"):
        load_secret(key)


def test_secret_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, "e" * 40)
    assert load_secret(tmp_path / "unused") == b"e" * 40
    assert not (tmp_path / "unused").exists()
    monkeypatch.setenv(SECRET_ENV, "short")
    with pytest.raises(DeliveryError, match="shorter than"):
        load_secret(tmp_path / "unused")


def test_unsubscribe_command(project: Project) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["subscribers", "add", "ann@example.org"]).exit_code == 0
    assert (project.root / "newsletter.sqlite3").exists()
    token = signer_for(project.config()).token(1)
    assert (project.root / ".newsletter-secret").exists()  # beside the database
    result = runner.invoke(cli, ["unsubscribe", token])
    assert result.exit_code == 0 and result.stdout == "unsubscribed ann@example.org\n"
    again = runner.invoke(cli, ["unsubscribe", token])
    assert again.stdout == "ann@example.org is already unsubscribed\n"
    forged = runner.invoke(cli, ["unsubscribe", "1.AAAAAAAAAAAAAAAAAAAAAA"])
    assert forged.exit_code == 2
    assert forged.stderr.startswith("error: invalid unsubscribe token") and \
        forged.stderr.count("\n") == 1
    listed = runner.invoke(cli, ["subscribers", "list"]).stdout
    assert listed == "ann@example.org\tunsubscribed\t\n"


def test_a_token_has_one_spelling() -> None:
    """`01.<sig>` would be a second token for subscriber 1: only the canonical one is valid."""
    sign = Signer(b"s" * 32, "news.example.org")
    signature = sign.token(1).split(".")[1]
    assert sign.verify(f"1.{signature}") == 1
    for other in [f"01.{signature}", f"001.{signature}", f"+1.{signature}", f"1 .{signature}",
                  f"\u0661.{signature}"]:  # an Arabic-Indic digit one
        with pytest.raises(DeliveryError, match="malformed"):
            sign.verify(other)
    zero = sign.token(0)  # the test copy to an address that is not a subscriber
    assert zero.startswith("0.") and sign.verify(zero) == 0
    with pytest.raises(DeliveryError, match="malformed"):
        sign.verify("0" + zero)


# -- tokens that can never point at someone else (schema v3) --------------------------------


def _id_of(project: Project, email: str) -> int:
    from newsletter.store import open_store

    with open_store(project.config()) as store:
        subscriber = store.subscriber(email)
    assert subscriber is not None
    return subscriber.id


def test_a_forgotten_readers_link_never_unsubscribes_the_next_one(project: Project) -> None:
    """remove X --forget, add Y (SQLite hands Y X's row number), unsubscribe <X's token>."""
    runner = CliRunner()
    assert runner.invoke(cli, ["subscribers", "add", "x@example.org"]).exit_code == 0
    x_id = _id_of(project, "x@example.org")
    x_token = signer_for(project.config()).token(x_id)  # as the link in X's message
    assert runner.invoke(cli, ["subscribers", "remove", "x@example.org", "--forget"]).exit_code == 0
    assert runner.invoke(cli, ["subscribers", "add", "y@example.org"]).exit_code == 0
    assert _id_of(project, "y@example.org") == x_id  # the row number is reused
    result = runner.invoke(cli, ["unsubscribe", x_token])
    assert result.exit_code == 2 and "no longer exists" in result.stderr
    assert "y@example.org" not in result.output
    listed = runner.invoke(cli, ["subscribers", "list"]).stdout
    assert listed == "y@example.org\tactive\t\n"


def _v2_database(project: Project, emails: list[str]) -> None:
    """A database as the code before uids wrote it (schema v2), with these readers."""
    from newsletter.store import migrations, open_store

    before = migrations.MIGRATIONS
    migrations.MIGRATIONS = before[:2]
    try:
        with open_store(project.config()) as store:
            assert store.schema_version() == 2
    finally:
        migrations.MIGRATIONS = before
    db = sqlite3.connect(project.root / "newsletter.sqlite3")
    db.executemany("INSERT INTO subscribers (email, created_at, updated_at) "
                   "VALUES (?, '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z')",
                   [(email,) for email in emails])
    db.commit()
    db.close()


def test_links_sent_before_uids_work_only_for_their_reader(project: Project) -> None:
    _v2_database(project, ["old@example.org", "x@example.org"])
    old = list_signer(project.config())  # the signer of the code before uids
    legacy = {name: old.token(_id_of(project, f"{name}@example.org")) for name in ("old", "x")}
    runner = CliRunner()
    # The link already in old@'s inbox keeps working for old@ (after the migration ran).
    result = runner.invoke(cli, ["unsubscribe", legacy["old"]])
    assert result.exit_code == 0 and result.stdout == "unsubscribed old@example.org\n"
    assert runner.invoke(cli, ["subscribers", "remove", "x@example.org", "--forget"]).exit_code == 0
    assert runner.invoke(cli, ["subscribers", "add", "y@example.org"]).exit_code == 0
    refused = runner.invoke(cli, ["unsubscribe", legacy["x"]])
    assert refused.exit_code == 2 and "no longer exists" in refused.stderr
    listed = runner.invoke(cli, ["subscribers", "list", "--status", "active"]).stdout
    assert listed == "y@example.org\tactive\t\n"


def test_tokens_and_message_ids_do_not_count_the_list(project: Project) -> None:
    import datetime as dt
    import re

    from newsletter.commands.compose import compose_issue
    from newsletter.mail.template import MessageTemplate

    project.add_paper("a-paper", published="2025-11-01")
    project.add_issue("2025-11-28", ["a-paper"])
    runner = CliRunner()
    for i in range(3):
        runner.invoke(cli, ["subscribers", "add", f"r{i}@example.org"])
    config = project.config()
    tokens = signer_for(config)
    rendered = compose_issue(config, dt.date(2025, 11, 28)).built.rendered
    template = MessageTemplate(rendered, config, dt.date(2025, 11, 28), tokens.token,
                               dt.datetime.now(dt.UTC))
    for subscriber_id in (1, 2, 3):
        token = tokens.token(subscriber_id)
        assert re.fullmatch(r"u\.[0-9a-f]{32}\.[A-Za-z0-9_-]{22}", token)
        assert tokens.verify(token) == subscriber_id
        head = template.build(subscriber_id, f"r{subscriber_id - 1}@example.org").split(
            b"\r\n\r\n")[0].decode()
        message_id = re.search(r"^Message-ID: <(\d{8})\.([0-9a-f]{20})\.", head, re.M)
        assert message_id, head
        assert template.build(subscriber_id, "again@example.org").count(message_id[2].encode())
    tokens.close()


def test_a_confirmation_link_is_signed_expires_and_has_one_spelling() -> None:
    from newsletter.audience.tokens import Confirmation, ConfirmSigner

    signer = ConfirmSigner(b"s" * 32, "news.example.org")
    made = Confirmation("ann@example.org", "Ann", "new", 2_000_000_000)
    token = signer.token(made)
    assert signer.open(token, 1_999_999_999) == made
    with pytest.raises(DeliveryError) as expired:
        signer.open(token, 2_000_000_001)
    assert expired.value.code == "expired"
    _, payload, signature = token.split(".")
    other = ConfirmSigner(b"s" * 32, "other.example.org")
    unsubscribe = Signer(b"s" * 32, "news.example.org")
    for bad in [token[:-1], f"c.{payload}A.{signature}", f"c.{payload[:-1]}.{signature}",
                token.replace("c.", "u.", 1), "", f"c..{signature}"]:
        with pytest.raises(DeliveryError):
            signer.open(bad, 0)
    with pytest.raises(DeliveryError, match="signature"):
        other.open(token, 0)
    with pytest.raises(DeliveryError):
        unsubscribe.reference(token)


def test_the_uid_cache_stays_bounded_over_a_long_list(tmp_path) -> None:
    """A send to any number of readers keeps a few chunks of uids, not the whole list."""
    from newsletter.audience.tokens import ReaderTokens, Signer
    from newsletter.store import open_url
    from newsletter.store.urls import sqlite_url

    url = sqlite_url(tmp_path / "news.sqlite3")
    count = ReaderTokens.CHUNK * (ReaderTokens.CHUNKS + 4)
    with open_url(url) as store:
        store.upsert_subscribers((f"r{i}@example.org", "", "active") for i in range(count))
        uids = dict(store.subscriber_uids(0, count + 1))
    tokens = ReaderTokens(Signer(b"k" * 32, "list.example.org"), lambda: open_url(url))
    try:
        for subscriber_id in sorted(uids):
            assert tokens.uid(subscriber_id) == uids[subscriber_id]
        assert len(tokens._chunks) == ReaderTokens.CHUNKS
        assert tokens.uid(min(uids)) == uids[min(uids)]  # an evicted chunk is read again
    finally:
        tokens.close()
