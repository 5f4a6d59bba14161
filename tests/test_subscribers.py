"""Subscribers: CSV import (bad rows, re-import), add, remove, list, export."""

from __future__ import annotations

import csv
import io
import random
import string

import pytest
from click.testing import CliRunner
from email_validator import EmailNotValidError, validate_email

from newsletter.audience.addresses import address_or_problem, normalize_email
from newsletter.cli import cli
from newsletter.commands.subscribers import import_csv
from newsletter.errors import DeliveryError
from support.project import Project

CSV = """\
email,name,status
Ada@Example.org,Ada Lovelace,
alan@example.org,Alan Turing,active
not-an-address,Nobody,
grace@example.org,"Grace
Hopper",
left@example.org,Left Already,unsubscribed
ada@example.org,Ada again,
weird@example.org,Weird,paused
,,
bob@localhost,Bob,
"""


def _run(project: Project, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_import_reports_bad_rows_with_lines_and_skips_them(project: Project) -> None:
    (project.root / "subs.csv").write_text(CSV, encoding="utf-8")
    code, out, err = _run(project, "subscribers", "import", "subs.csv")
    assert code == 0, err
    assert "3 added, 0 updated, 0 unchanged, 5 bad row(s) skipped" in out
    lines = err.splitlines()
    assert lines[0].startswith("subs.csv:4: skipped: ") and "@-sign" in lines[0]
    assert lines[1].startswith("subs.csv:5: skipped: the name contains a line break")
    assert lines[2] == "subs.csv:8: skipped: ada@example.org is already on line 2"
    assert lines[3].startswith("subs.csv:9: skipped: status 'paused'")
    assert lines[4].startswith("subs.csv:11: skipped: ")
    code, out, _ = _run(project, "subscribers", "list")
    assert out.splitlines() == ["ada@example.org\tactive\tAda Lovelace",
                                "alan@example.org\tactive\tAlan Turing",
                                "left@example.org\tunsubscribed\tLeft Already"]


def test_reimport_changes_nothing_and_never_reactivates(project: Project) -> None:
    path = project.root / "subs.csv"
    path.write_text("email,name\nann@example.org,Ann\nbob@example.org,Bob\n", encoding="utf-8")
    first = import_csv(project.config(), path)
    assert (first.added, first.updated, first.unchanged) == (2, 0, 0)
    assert _run(project, "subscribers", "remove", "ann@example.org")[1] == \
        "unsubscribed ann@example.org\n"
    again = import_csv(project.config(), path)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)
    code, out, _ = _run(project, "subscribers", "list", "--status", "active")
    assert out == "bob@example.org\tactive\tBob\n"


def test_headerless_file_and_utf8_bom(project: Project) -> None:
    path = project.root / "plain.csv"
    path.write_bytes("\ufeffzoe@example.org,Zoë\nbad,x\n".encode())
    report = import_csv(project.config(), path)
    assert report.added == 1 and report.bad[0][0] == 2


def test_file_without_email_column_is_refused(project: Project) -> None:
    (project.root / "x.csv").write_text("name,city\nAnn,Paris\n", encoding="utf-8")
    code, _, err = _run(project, "subscribers", "import", "x.csv")
    assert code == 2 and err.startswith("error: x.csv:1: no 'email' column")


def test_add_remove_forget_export(project: Project) -> None:
    assert _run(project, "subscribers", "add", "Ann@Example.org", "--name", "Ann")[1] == \
        "added ann@example.org\n"
    assert _run(project, "subscribers", "add", "bob@example.org")[0] == 0
    assert _run(project, "subscribers", "remove", "bob@example.org")[0] == 0
    code, _, err = _run(project, "subscribers", "add", "bob@example.org")
    assert code == 2 and "bob@example.org is unsubscribed" in err and "--reactivate" in err
    assert _run(project, "subscribers", "add", "bob@example.org", "--reactivate")[1] == \
        "reactivated bob@example.org\n"
    code, out, _ = _run(project, "subscribers", "export")
    assert list(csv.reader(io.StringIO(out))) == [
        ["email", "name", "status"], ["ann@example.org", "Ann", "active"],
        ["bob@example.org", "", "active"]]
    assert _run(project, "subscribers", "remove", "--forget", "ann@example.org")[0] == 0
    code, _, err = _run(project, "subscribers", "remove", "ann@example.org")
    assert code == 2 and "not a subscriber" in err
    code, _, err = _run(project, "subscribers", "add", "no-at-sign")
    assert code == 2 and err.startswith("error: 'no-at-sign' is not a valid address")


def test_header_injection_in_a_name_is_refused(project: Project) -> None:
    code, _, err = _run(project, "subscribers", "add", "x@example.org", "--name", "X\r\nBcc: y")
    assert code == 2 and "line break" in err


def test_fast_path_agrees_with_email_validator() -> None:
    """Whatever the regex accepts, email-validator accepts too, with the same address."""
    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits + "._+-"
    samples = ["a@b.co", "first.last@sub.example.org", "x+tag@example.museum",
               "a..b@example.org", ".a@example.org", "a.@example.org", "a@-x.org",
               "a@x-.org", "a@x.o", "a@x.123", "a@local.test", "a@x.invalid", "a@[1.2.3.4]",
               "o'neil@example.org", "a@" + "x" * 64 + ".org", "x" * 65 + "@example.org"]
    for _ in range(3000):
        local = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        labels = ["".join(rng.choice(string.ascii_lowercase + string.digits + "-")
                          for _ in range(rng.randint(1, 8))) for _ in range(rng.randint(1, 3))]
        samples.append(f"{local}@{'.'.join(labels)}.{rng.choice(['org', 'io', 'c0', 'de'])}")
    for address in samples:
        try:
            expected = validate_email(address, check_deliverability=False,
                                      allow_smtputf8=False).normalized.lower()
        except EmailNotValidError:
            expected = None
        try:
            ours = address_or_problem(address)
        except ValueError:
            ours = None
        assert ours == expected, address


def test_normalize_email_errors_are_one_line() -> None:
    with pytest.raises(DeliveryError) as info:
        normalize_email("ann@@example.org")
    assert "\n" not in info.value.one_line()
