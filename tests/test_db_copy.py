"""Database URLs, passwords that never show, and `newsletter db copy` between real databases.

PostgreSQL is the session's throwaway server (tests/support/postgres.py): its role has a
password, which libpq finds in the PGPASSFILE the fixture sets.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter import cli as cli_module
from newsletter.audience.subscribers import unsubscribe
from newsletter.audience.tokens import ReaderTokens, Signer
from newsletter.errors import ConfigError, DeliveryError, UsageError
from newsletter.store import open_store, open_url
from newsletter.store.copy import copy_database
from newsletter.store.urls import ENV, database_url, mask_password, resolve_url, sqlite_url
from support.postgres import postgres_fixtures, postgres_url_fixture  # noqa: F401
from support.project import Project

ISSUE = "2025-11-28"
UNREACHABLE = "postgresql://u:secret@127.0.0.1:1/db"


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli_module.cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(autouse=True)
def _db_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """`newsletter db` as the registry will list it."""
    monkeypatch.setitem(cli_module.COMMANDS, "db", "db:db")


# -- URLs -----------------------------------------------------------------------------------


def test_a_path_or_sqlite_url_is_sqlite_beside_newsletter_toml(project: Project,
                                                                monkeypatch) -> None:
    config = project.config()
    root = project.root
    assert database_url(config) == f"sqlite:///{root}/newsletter.sqlite3"
    for given, path in [("data/list.db", root / "data/list.db"),
                        ("sqlite:///data/list.db", root / "data/list.db"),
                        ("sqlite:////srv/list.db", Path("/srv/list.db")),
                        ("/srv/list.db", Path("/srv/list.db"))]:
        assert resolve_url(given, root) == sqlite_url(path), given
    monkeypatch.setenv(ENV, "sqlite:///elsewhere.sqlite3")
    assert database_url(config) == f"sqlite:///{root}/elsewhere.sqlite3"


def test_the_environment_wins_over_newsletter_toml(project: Project, monkeypatch) -> None:
    with open(project.root / "newsletter.toml", "a", encoding="utf-8") as toml:
        toml.write('[delivery]\ndatabase = "postgresql://news@db.example.org:5433/news"\n')
    assert database_url(project.config()) == "postgresql://news@db.example.org:5433/news"
    monkeypatch.setenv(ENV, "postgres://other@127.0.0.1/list?sslmode=disable")
    assert database_url(project.config()) == "postgres://other@127.0.0.1/list?sslmode=disable"


@pytest.mark.parametrize("given", ["mysql://u:hunter2@h/db", "sqlite://host/x.db", "sqlite:",
                                   "sqlite:/x.db", "  "])
def test_an_unusable_url_is_one_line_without_its_password(given: str) -> None:
    with pytest.raises(ConfigError) as refused:
        resolve_url(given, Path("/srv"), source=ENV)
    line = refused.value.one_line()
    assert line.startswith(f"{ENV}: ") and "hunter2" not in line and "sqlite:////" in line
    with pytest.raises(UsageError):
        resolve_url(given, Path("/srv"), source="TO_URL", error=UsageError)


@pytest.mark.parametrize("url,shown", [
    (UNREACHABLE, "postgresql://u:***@127.0.0.1:1/db"),
    ("postgresql://u@h/db", "postgresql://u@h/db"),
    ("postgresql://u:p%40ss@h:5/db?password=x&sslmode=require",
     "postgresql://u:***@h:5/db?password=***&sslmode=require"),
    ("postgresql://u:pa/ss@h/db", "postgresql://u:***@h/db"),
    ("postgresql://u:pa?s@h/db", "postgresql://u:***@h/db"),
    ("postgresql://h:5432/db?options=a@b", "postgresql://h:5432/db?options=a@b"),
    ("sqlite:////srv/a:b@c.db", "sqlite:////srv/a:b@c.db"),
])
def test_mask_password(url: str, shown: str) -> None:
    assert mask_password(url) == shown


# -- passwords never show -------------------------------------------------------------------


@pytest.mark.parametrize("debug", [[], ["--debug"]])
def test_an_unreachable_server_is_one_line_with_the_password_masked(project: Project,
                                                                    debug: list[str]) -> None:
    env = {**os.environ, ENV: UNREACHABLE}
    done = subprocess.run([sys.executable, "-m", "newsletter", *debug, "subscribers", "list"],
                          capture_output=True, text=True, env=env, cwd=project.root,
                          timeout=60, check=False)
    assert "secret" not in done.stdout + done.stderr
    if not debug:
        assert done.returncode == 2 and done.stdout == ""
        line, = done.stderr.splitlines()
        assert line.startswith("error: cannot connect to postgresql://u:***@127.0.0.1:1/db: ")
        assert "Connection refused" in line


def test_a_wrong_password_is_refused_and_never_shown(postgres_url: str, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    url = postgres_url.replace("newsletter@", "newsletter:n0t-the-pa55w0rd@")
    with pytest.raises(DeliveryError) as refused:
        open_url(url)
    line = refused.value.one_line()
    assert "password authentication failed" in line and "PGPASSWORD" in line
    assert "newsletter:***@127.0.0.1" in line
    assert "n0t-the-pa55w0rd" not in line + caplog.text + repr(refused.value.__cause__)


def test_a_url_libpq_reads_otherwise_is_refused_unquoted() -> None:
    with pytest.raises(DeliveryError) as refused:
        open_url("postgresql://u:half/secret@127.0.0.1:1/db")
    assert "half" not in refused.value.one_line()
    assert "not a valid PostgreSQL URL" in refused.value.one_line()


def test_the_password_comes_from_pgpassword_too(postgres_server, postgres_url: str,
                                                monkeypatch) -> None:
    monkeypatch.setenv("PGPASSFILE", str(postgres_server.folder / "none"))
    monkeypatch.delenv("PGPASSWORD", raising=False)
    with pytest.raises(DeliveryError, match="(no password supplied|password authentication)"):
        open_url(postgres_url)
    monkeypatch.setenv("PGPASSWORD", postgres_server.password())
    with open_url(postgres_url) as store:
        assert store.count_subscribers() == 0


def test_psycopg_is_imported_only_for_postgresql(project: Project) -> None:
    code = ("import sys; from newsletter.config import load_config; "
            "from newsletter.store import open_store; open_store(load_config()).close(); "
            "print('psycopg' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=project.root, check=True, env={**os.environ, ENV: ""})
    assert done.stdout.strip() == "False"


# -- the commands on PostgreSQL -------------------------------------------------------------


def test_subscriber_commands_run_on_postgresql(project: Project, postgres_url: str,
                                               monkeypatch) -> None:
    monkeypatch.setenv(ENV, postgres_url)
    (project.root / "subs.csv").write_text(
        "email,name,status\nAda@Example.org,Ada,\nbob@example.org,Bob,\nbad,Bad,\n"
        "left@example.org,Left,unsubscribed\nada@example.org,Again,\n", encoding="utf-8")
    code, out, err = _run("subscribers", "import", "subs.csv")
    assert code == 0 and "3 added, 0 updated, 0 unchanged, 2 bad row(s) skipped" in out, err
    assert _run("subscribers", "import", "subs.csv")[1].count("3 unchanged") == 1
    assert _run("subscribers", "add", "left@example.org")[0] == 2
    assert _run("subscribers", "remove", "bob@example.org")[1] == "unsubscribed bob@example.org\n"
    assert _run("subscribers", "list")[1].splitlines() == [
        "ada@example.org\tactive\tAda", "bob@example.org\tunsubscribed\tBob",
        "left@example.org\tunsubscribed\tLeft"]
    with open_store(project.config()) as store:
        assert store.url == postgres_url


# -- db copy --------------------------------------------------------------------------------


def _fill(url: str) -> None:
    with open_url(url) as store:
        store.upsert_subscribers([(f"r{i}@example.org", f"R {i}", "active") for i in range(30)])
        store.delete_subscriber(store.subscriber("r0@example.org").id)  # ids have a gap
        store.set_status(store.subscriber("r5@example.org").id, "bounced")
        store.enqueue(ISSUE)
        for claim in store.claim_batch(ISSUE, "w", 10, 0):
            store.start_attempt(ISSUE, "w", claim.subscriber_id)
            store.mark_sent(ISSUE, claim.subscriber_id, "250 2.0.0 OK")
        store.mark_retry(ISSUE, store.subscriber("r20@example.org").id, "451 later", 1.5)


def _everything(url: str) -> list[tuple]:
    with open_url(url) as store:
        return list(store.dump())


def test_a_list_moves_to_postgresql_and_back_as_it_was(tmp_path: Path, postgres_url: str,
                                                       postgres_server) -> None:
    laptop, back = sqlite_url(tmp_path / "laptop.sqlite3"), sqlite_url(tmp_path / "back.db")
    _fill(laptop)
    report = copy_database(laptop, postgres_url)
    assert (report.subscribers, report.deliveries) == (29, 28)
    assert _everything(postgres_url) == _everything(laptop)
    copy_database(postgres_url, back)
    assert _everything(back) == _everything(laptop)
    signer = Signer(b"the same key as before the move", "research.example.org")
    with open_url(postgres_url) as store:
        r7 = store.subscriber("r7@example.org").id
    token = ReaderTokens(signer, lambda: open_url(postgres_url)).token(r7)  # opens its own
    with open_url(postgres_url) as store:
        assert unsubscribe(store, signer, token) == "unsubscribed r7@example.org"
        store.upsert_subscribers([("new@example.org", "New", "active")])
        assert store.subscriber("new@example.org").id == 31  # after the highest id copied
        assert store.enqueue(ISSUE) == 1  # the ledger came along: only the new reader
        assert store.counts(ISSUE)["sent"] == 10


def test_db_copy_on_the_command_line(tmp_path: Path, postgres_url: str, postgres_server,
                                     monkeypatch, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.chdir(tmp_path)
    _fill(sqlite_url(tmp_path / "laptop.sqlite3"))
    password = postgres_server.password()
    with_password = postgres_url.replace("newsletter@", f"newsletter:{password}@")
    code, out, err = _run("db", "copy", "laptop.sqlite3", with_password)
    assert code == 0, err
    assert out == (f"copied 29 subscriber(s) and 28 ledger row(s) from "
                   f"sqlite:///{tmp_path}/laptop.sqlite3 to "
                   f"{postgres_url.replace('newsletter@', 'newsletter:***@')}\n")
    code, out, err = _run("db", "copy", "laptop.sqlite3", with_password)  # not empty now
    assert (code, out) == (2, "")
    assert err == (f"error: {postgres_url.replace('newsletter@', 'newsletter:***@')} is not "
                   "empty: 29 subscriber(s), 28 ledger row(s) (copy into a new, empty "
                   "database)\n")
    assert password not in out + err + caplog.text


def test_db_copy_refuses_what_it_cannot_do(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    _fill(sqlite_url(tmp_path / "a.sqlite3"))
    _fill(sqlite_url(tmp_path / "full.sqlite3"))
    before = _everything(sqlite_url(tmp_path / "full.sqlite3"))
    for args, message in [
            (["missing.sqlite3", "b.sqlite3"], "missing.sqlite3: no database to copy from"),
            (["a.sqlite3", f"sqlite:///{tmp_path}/a.sqlite3"], "is both the source and the"),
            (["a.sqlite3", "full.sqlite3"], "full.sqlite3: is not empty: 29 subscriber(s)"),
            (["a.sqlite3", "mysql://x/y"], "TO_URL: unsupported database mysql://")]:
        code, out, err = _run("db", "copy", *args)
        assert (code, out) == (2, "") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "missing.sqlite3").exists() and not (tmp_path / "b.sqlite3").exists()
    assert _everything(sqlite_url(tmp_path / "full.sqlite3")) == before


def test_a_row_postgresql_cannot_hold_is_one_line(tmp_path: Path, postgres_url: str) -> None:
    laptop = sqlite_url(tmp_path / "laptop.sqlite3")
    _fill(laptop)
    with open_url(laptop) as store:  # written by hand, or by an older program
        store.set_name(store.subscriber("r3@example.org").id, "nul\x00inside")
    with pytest.raises(DeliveryError) as refused:
        copy_database(laptop, postgres_url)
    line = refused.value.one_line()
    assert line.startswith(f"{postgres_url}: subscribers row 3 cannot be stored: ") and \
        "\n" not in line
    assert _everything(postgres_url) == []


def test_a_half_copied_target_is_left_empty(tmp_path: Path, postgres_url: str) -> None:
    laptop = sqlite_url(tmp_path / "laptop.sqlite3")
    _fill(laptop)

    def broken(rows):
        for number, row in enumerate(rows):
            if number == 35:  # a ledger row: the subscribers are already in
                raise OSError("disk gone")
            yield row

    with open_url(laptop) as source, open_url(postgres_url) as target, \
            pytest.raises(OSError, match="disk gone"):
        target.load(broken(source.dump()))
    assert _everything(postgres_url) == []
    assert copy_database(laptop, postgres_url).subscribers == 29


def test_a_send_moves_to_postgresql_half_way_and_finishes_there(project: Project,
                                                                postgres_url: str,
                                                                monkeypatch) -> None:
    from support.smtp import DATE, prepare_project

    prepare_project(project, 40)  # into the SQLite file beside newsletter.toml
    with open_store(project.config()) as store:  # a run that sent 15, then died
        store.enqueue(DATE)
        claims = store.claim_batch(DATE, "dead", 16, 0)
        for claim in claims:
            store.start_attempt(DATE, "dead", claim.subscriber_id)
        for claim in claims[:15]:
            store.mark_sent(DATE, claim.subscriber_id, "250 OK")
    code, out, err = _run("db", "copy", "newsletter.sqlite3", postgres_url)
    assert code == 0, err
    monkeypatch.setenv(ENV, postgres_url)
    code, out, err = _run("send", "--date", DATE, "--connections", "3")
    assert code == 0, err
    assert out.startswith(f"{DATE}: 25 sent, 0 failed"), out
    sent = {path.name for path in (project.root / "outbox" / DATE / "sent").iterdir()}
    assert len(sent) == 25 and f"{claims[15].email}.eml" in sent  # the one in flight: again
    code, out, _ = _run("status", "--date", DATE)
    assert out.startswith(f"{DATE}: 40 sent, 0 pending"), out
    assert claims[15].email in out  # named as in doubt
