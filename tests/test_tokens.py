"""Unsubscribe tokens: signed, bound to the list, refused when altered; the key file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.audience.tokens import SECRET_ENV, Signer, load_secret, signer_for
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
