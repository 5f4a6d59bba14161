"""The Store contract, run against both backends: a real SQLite file and a real PostgreSQL server.

Every test taking `store` or `url` runs twice. The PostgreSQL server is started once for the
session by tests/support/postgres.py (initdb as the `postgres` user, 127.0.0.1 only); each
test gets an empty schema of its own. Also here: the schema's migrations on both backends,
from a v1 SQLite file as today's code writes it, and what only PostgreSQL has (SKIP LOCKED,
its advisory lock, concurrent first opens).
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import astuple
from pathlib import Path

import psycopg
import pytest

from newsletter.errors import DeliveryError
from newsletter.store import migrations as migrations_module
from newsletter.store import open_url
from newsletter.store.base import TABLES, Store
from newsletter.store.migrations import Migration, latest
from newsletter.store.urls import is_sqlite, sqlite_path, sqlite_url
from support.postgres import (  # noqa: F401  (the fixtures)
    PostgresServer,
    postgres_fixtures,
    postgres_url_fixture,
)

ISSUE = "2025-11-28"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "news.sqlite3")
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    with open_url(url) as opened:
        yield opened


def _sql(url: str, statement: str) -> list[tuple]:
    """One statement on a connection of our own, committed: what another program would do."""
    if is_sqlite(url):
        db = sqlite3.connect(sqlite_path(url))
        try:
            rows = db.execute(statement).fetchall()
            db.commit()
            return rows
        finally:
            db.close()
    with psycopg.connect(url, autocommit=True) as pg:
        cursor = pg.execute(statement)
        return cursor.fetchall() if cursor.description else []


def _subscribe(store: Store, count: int) -> None:
    store.upsert_subscribers((f"r{i}@example.org", f"R {i}", "active") for i in range(count))


# -- schema ---------------------------------------------------------------------------------


def test_created_on_first_open_and_reopened_as_it_is(url: str) -> None:
    with open_url(url) as store:
        assert store.schema_version() == latest()
        _subscribe(store, 2)
    with open_url(url) as again:
        assert again.schema_version() == latest() and again.count_subscribers() == 2
    assert _sql(url, "SELECT count(*) FROM schema_version") == [(1,)]


def test_a_newer_database_is_refused_in_one_line(url: str) -> None:
    open_url(url).close()
    _sql(url, "UPDATE schema_version SET version = 99")
    with pytest.raises(DeliveryError) as refused:
        open_url(url)
    line = refused.value.one_line()
    assert f"database schema v99 is newer than this program (v{latest()})" in line
    assert line.endswith("(upgrade newsletter)") and "\n" not in line
    assert refused.value.code == "schema-newer"


def test_a_new_step_upgrades_and_keeps_the_rows(url: str, monkeypatch) -> None:
    with open_url(url) as store:
        _subscribe(store, 3)
        store.enqueue(ISSUE)
    step = "CREATE INDEX subscribers_by_name ON subscribers (name)"
    following = latest() + 1
    monkeypatch.setattr(migrations_module, "MIGRATIONS", [
        *migrations_module.MIGRATIONS, Migration(following, (step,), (step,))])
    with open_url(url) as store:
        assert store.schema_version() == following
        assert store.count_subscribers() == 3 and store.counts(ISSUE)["pending"] == 3
    with open_url(url) as store:  # applied once: a second open has nothing to do
        assert store.schema_version() == following
    monkeypatch.undo()
    with pytest.raises(DeliveryError, match=f"schema v{following} is newer"):
        open_url(url)


# The v1 schema exactly as the code before PostgreSQL wrote it (newsletter/store/migrations.py).
TODAYS_V1 = [
    """CREATE TABLE subscribers (
            id INTEGER PRIMARY KEY,
            email TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'unsubscribed', 'bounced')),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL)""",
    "CREATE INDEX subscribers_by_status ON subscribers (status, id)",
    """CREATE TABLE deliveries (
            issue_date TEXT NOT NULL,
            subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
            email TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN
                ('pending', 'claimed', 'sending', 'sent', 'failed', 'skipped')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL DEFAULT 0,
            worker TEXT,
            in_doubt INTEGER NOT NULL DEFAULT 0,
            reply TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (issue_date, subscriber_id))""",
    "CREATE INDEX deliveries_queue ON deliveries (issue_date, state, next_attempt_at)",
]


def _todays_v1_file(path: Path) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    db.execute("BEGIN IMMEDIATE")
    for statement in TODAYS_V1:
        db.execute(statement)
    db.execute("INSERT INTO schema_version (version) VALUES (1)")
    db.execute("INSERT INTO subscribers VALUES (7, 'ada@example.org', 'Ada', 'active', "
               "'2025-11-01T10:00:00Z', '2025-11-02T10:00:00Z')")
    db.execute("INSERT INTO deliveries VALUES ('2025-11-21', 7, 'ada@example.org', 'sent', 1, "
               "0, NULL, 0, '250 OK', '2025-11-21T09:00:00Z')")
    db.execute("COMMIT")
    db.close()


def _shape(path: Path) -> dict[str, list[tuple]]:
    db = sqlite3.connect(path)
    try:
        return {f"{table}.{pragma}": db.execute(f"PRAGMA {pragma}({table})").fetchall()
                for table in (*TABLES, "schema_version")
                for pragma in ("table_info", "index_list", "foreign_key_list")}
    finally:
        db.close()


def test_a_v1_file_of_todays_code_opens_with_its_rows(tmp_path: Path) -> None:
    old, new = tmp_path / "old.sqlite3", tmp_path / "new.sqlite3"
    _todays_v1_file(old)
    open_url(sqlite_url(new)).close()
    open_url(sqlite_url(old)).close()
    assert _shape(old) == _shape(new)  # migrated, it has today's schema, column for column
    with open_url(sqlite_url(old)) as store:
        assert store.schema_version() == latest()
        assert [astuple(s) for s in store.iter_subscribers()] == \
            [(7, "ada@example.org", "Ada", "active")]
        assert list(store.rows("2025-11-21")) == [("ada@example.org", "sent", 1, "250 OK")]
        store.upsert_subscribers([("bob@example.org", "Bob", "active")])
        assert store.subscriber("bob@example.org").id == 8


def test_both_dialects_make_the_same_tables(tmp_path: Path, postgres_url: str) -> None:
    open_url(sqlite_url(tmp_path / "n.sqlite3")).close()
    open_url(postgres_url).close()
    schema = postgres_url.rpartition("%3D")[2]
    for table, columns in TABLES.items():
        lite = [row[1] for row in _sql(sqlite_url(tmp_path / "n.sqlite3"),
                                       f"PRAGMA table_info({table})")]
        pg = [row[0] for row in _sql(postgres_url, (
            "SELECT column_name FROM information_schema.columns WHERE table_schema = "
            f"'{schema}' AND table_name = '{table}' ORDER BY ordinal_position"))]
        assert lite == pg == list(columns)


def _nodes(plan: dict) -> Iterator[dict]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def test_a_claim_reads_its_batch_in_index_order_on_postgresql(postgres_url: str) -> None:
    """v5's queue index ends with the tie-breaker: no claim reads and sorts every pending row."""
    from newsletter.store.postgresql import CLAIM

    with open_url(postgres_url) as store:
        _subscribe(store, 2000)
        store.enqueue(ISSUE)
    _sql(postgres_url, "ANALYZE deliveries")
    params = {"issue": ISSUE, "now": time.time(), "n": 50, "worker": "w/0", "when": "now"}
    with psycopg.connect(postgres_url, autocommit=True) as pg:
        plan = pg.execute("EXPLAIN (FORMAT JSON) " + CLAIM, params).fetchone()[0][0]["Plan"]
    lock = next(node for node in _nodes(plan) if node["Node Type"] == "LockRows")
    below = [node["Node Type"] for node in _nodes(lock)]
    assert "Sort" not in below and "Seq Scan" not in below, below
    assert any(node.get("Index Name") == "deliveries_queue" for node in _nodes(lock))


def test_a_claim_reads_its_batch_in_index_order_on_sqlite(tmp_path: Path) -> None:
    from newsletter.store.sqlite import CLAIM

    url = sqlite_url(tmp_path / "news.sqlite3")
    with open_url(url) as store:
        _subscribe(store, 2000)
        store.enqueue(ISSUE)
    db = sqlite3.connect(sqlite_path(url))
    try:
        steps = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + CLAIM,
                                              (ISSUE, time.time(), 50))]
    finally:
        db.close()
    assert any("deliveries_queue" in step for step in steps), steps
    assert not any("TEMP B-TREE" in step for step in steps), steps


def test_v5_upgrades_the_queue_index_and_keeps_the_ledger(url: str, monkeypatch) -> None:
    monkeypatch.setattr(migrations_module, "MIGRATIONS", migrations_module.MIGRATIONS[:4])
    with open_url(url) as store:
        _subscribe(store, 3)
        store.enqueue(ISSUE)
        assert store.schema_version() == 4
    monkeypatch.undo()
    with open_url(url) as store:
        assert store.schema_version() == latest() >= 5
        assert store.counts(ISSUE)["pending"] == 3
        claimed = store.claim_batch(ISSUE, "w/0", 2, time.time())
    assert [claim.email for claim in claimed] == ["r0@example.org", "r1@example.org"]
    if is_sqlite(url):
        columns = [row[2] for row in _sql(url, "PRAGMA index_info(deliveries_queue)")]
    else:
        columns = [_sql(url, "SELECT pg_get_indexdef('deliveries_queue'::regclass)")[0][0]]
        columns = columns[0].rpartition("(")[2].rstrip(")").split(", ")
    assert columns == ["issue_date", "state", "next_attempt_at", "subscriber_id"]


# -- subscribers ----------------------------------------------------------------------------


def test_upsert_is_idempotent_and_never_reactivates(store: Store) -> None:
    rows = [("a@example.org", "Ann", "active"), ("b@example.org", "Bob", "active")]
    assert store.upsert_subscribers(rows) == (2, 0)
    assert store.upsert_subscribers(rows) == (0, 0)
    store.set_status(store.subscriber("a@example.org").id, "unsubscribed")
    assert store.upsert_subscribers([("a@example.org", "Ann", "active")]) == (0, 0)
    assert store.subscriber("a@example.org").status == "unsubscribed"
    assert store.upsert_subscribers([("b@example.org", "", "active")]) == (0, 0)
    assert store.upsert_subscribers([("b@example.org", "Robert", "bounced")]) == (0, 1)
    assert store.subscriber("b@example.org").name == "Robert"
    assert store.subscriber("b@example.org").status == "bounced"
    assert store.upsert_subscribers([]) == (0, 0)


def test_an_address_twice_in_one_upsert_is_applied_in_order(store: Store) -> None:
    store.upsert_subscribers([("old@example.org", "Old", "active")])
    added, updated = store.upsert_subscribers([
        ("new@example.org", "First", "active"), ("old@example.org", "Renamed", "active"),
        ("new@example.org", "", "bounced"), ("new@example.org", "Third", "active"),
        ("c@example.org", "C", "active")])
    assert (added, updated) == (2, 3)
    new = store.subscriber("new@example.org")
    assert (new.name, new.status) == ("Third", "bounced")  # left, so never active again
    assert store.subscriber("old@example.org").name == "Renamed"


def test_an_import_keeps_the_order_and_every_occurrence(store: Store) -> None:
    rows = [(f"{c}@example.org", c.upper(), "active") for c in "abcdefgh"]
    rows[5] = ("a@example.org", "", "unsubscribed")  # a later chunk: a suppression
    rows[7] = ("g@example.org", "Gee", "active")  # twice within the last chunk
    assert store.upsert_subscribers(rows) == (6, 2)
    assert [(s.email, s.name, s.status) for s in store.iter_subscribers()] == [
        ("a@example.org", "A", "unsubscribed"), ("b@example.org", "B", "active"),
        ("c@example.org", "C", "active"), ("d@example.org", "D", "active"),
        ("e@example.org", "E", "active"), ("g@example.org", "Gee", "active")]


def test_an_import_that_fails_half_way_stores_nothing(store: Store) -> None:
    _subscribe(store, 2)

    def broken():
        yield from [(f"x{i}@example.org", "", "active") for i in range(7)]
        raise ValueError("the file ended badly")

    with pytest.raises(ValueError, match="ended badly"):
        store.upsert_subscribers(broken())
    with pytest.raises(Exception, match="status"):  # the database's own check refuses it
        store.upsert_subscribers([("y@example.org", "", "active")] * 4 +
                                 [("z@example.org", "", "paused")])
    assert store.count_subscribers() == 2
    assert store.upsert_subscribers([("y@example.org", "", "active")]) == (1, 0)


def test_ids_follow_the_order_rows_came_in(store: Store) -> None:
    emails = [f"{c}@example.org" for c in "qwertyuiop"]
    store.upsert_subscribers((email, "", "active") for email in emails)
    assert [s.email for s in store.iter_subscribers()] == emails
    ids = [s.id for s in store.iter_subscribers()]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert store.subscriber(id=ids[3]).email == emails[3]
    assert store.subscriber("nobody@example.org") is None


def test_names_and_statuses_change_one_at_a_time(store: Store) -> None:
    _subscribe(store, 3)
    one = store.subscriber("r1@example.org")
    store.set_name(one.id, "Tab\there, quote ' and \\ backslash, naïve")
    store.set_status(one.id, "bounced")
    assert astuple(store.subscriber(id=one.id)) == \
        (one.id, one.email, "Tab\there, quote ' and \\ backslash, naïve", "bounced")
    assert store.count_subscribers() == 3 and store.count_subscribers("active") == 2
    assert [s.email for s in store.iter_subscribers("bounced")] == ["r1@example.org"]


def test_a_list_streams_and_can_be_left_half_read(store: Store) -> None:
    _subscribe(store, 5000)
    stream = store.iter_subscribers()
    assert next(stream).email == "r0@example.org"
    store.set_status(store.subscriber("r4999@example.org").id, "unsubscribed")  # meanwhile
    stream.close()
    assert sum(1 for _ in store.iter_subscribers("active")) == 4999
    assert store.count_subscribers("unsubscribed") == 1


# -- the send ledger ------------------------------------------------------------------------


def test_enqueue_claim_send_and_counts(store: Store) -> None:
    _subscribe(store, 5)
    store.set_status(store.subscriber("r4@example.org").id, "unsubscribed")
    assert store.enqueue(ISSUE) == 4
    assert store.enqueue(ISSUE) == 0
    first = store.claim_batch(ISSUE, "w1", 3, time.time())
    second = store.claim_batch(ISSUE, "w2", 3, time.time())
    assert [c.email for c in first] == ["r0@example.org", "r1@example.org", "r2@example.org"]
    assert len(second) == 1 and (second[0].name, second[0].attempts) == ("R 3", 0)
    claim = first[0]
    assert not store.start_attempt(ISSUE, "w2", claim.subscriber_id)
    assert store.start_attempt(ISSUE, "w1", claim.subscriber_id)
    store.mark_sent(ISSUE, claim.subscriber_id, "250 OK")
    store.release(ISSUE, "w2", [c.subscriber_id for c in first + second])
    assert store.counts(ISSUE)["claimed"] == 2
    store.release(ISSUE, "w1", [c.subscriber_id for c in first])
    store.release(ISSUE, "w1", [])
    counts = store.counts(ISSUE)
    assert (counts["sent"], counts["pending"], counts["claimed"]) == (1, 3, 0)
    assert set(counts) == {"pending", "claimed", "sending", "sent", "failed", "skipped",
                           "in_doubt"}
    assert list(store.rows(ISSUE, "sent")) == [(claim.email, "sent", 1, "250 OK")]
    assert [row[0] for row in store.rows(ISSUE)] == [f"r{i}@example.org" for i in range(4)]


def test_sent_and_the_next_in_flight_in_one_statement(store: Store) -> None:
    _subscribe(store, 3)
    store.enqueue(ISSUE)
    first, second, third = store.claim_batch(ISSUE, "w1", 3, time.time())
    assert store.start_attempt(ISSUE, "w1", first.subscriber_id)
    assert store.mark_sent_and_start(ISSUE, first.subscriber_id, "250 OK", "w1",
                                     second.subscriber_id)
    rows = {row[0]: row[1:] for row in store.rows(ISSUE)}
    assert rows[first.email] == ("sent", 1, "250 OK")
    assert rows[second.email] == ("sending", 1, None)
    store.release(ISSUE, "w1", [third.subscriber_id])
    assert not store.mark_sent_and_start(ISSUE, second.subscriber_id, "250 OK", "w1",
                                         third.subscriber_id)
    counts = store.counts(ISSUE)
    assert (counts["sent"], counts["sending"], counts["pending"]) == (2, 0, 1)


def test_unstart_takes_the_attempt_back(store: Store) -> None:
    _subscribe(store, 1)
    store.enqueue(ISSUE)
    claim, = store.claim_batch(ISSUE, "w", 1, time.time())
    store.start_attempt(ISSUE, "w", claim.subscriber_id)
    store.unstart(ISSUE, claim.subscriber_id)
    assert list(store.rows(ISSUE)) == [(claim.email, "claimed", 0, None)]


def test_recover_reports_only_rows_in_flight(store: Store) -> None:
    _subscribe(store, 4)
    store.enqueue(ISSUE)
    batch = store.claim_batch(ISSUE, "dead", 4, time.time())
    store.start_attempt(ISSUE, "dead", batch[0].subscriber_id)
    assert store.recover(ISSUE) == 1
    counts = store.counts(ISSUE)
    assert (counts["pending"], counts["in_doubt"], counts["claimed"]) == (4, 1, 0)
    assert [row[0] for row in store.rows(ISSUE, in_doubt=True)] == [batch[0].email]
    assert store.recover(ISSUE) == 0


def test_a_retried_row_claimed_by_another_worker_stays_theirs(store: Store) -> None:
    _subscribe(store, 2)
    store.enqueue(ISSUE)
    batch = store.claim_batch(ISSUE, "w1", 2, time.time())
    store.start_attempt(ISSUE, "w1", batch[0].subscriber_id)
    store.mark_retry(ISSUE, batch[0].subscriber_id, "451 later", 0)
    taken = store.claim_batch(ISSUE, "w2", 2, time.time())
    assert [(c.subscriber_id, c.attempts) for c in taken] == [(batch[0].subscriber_id, 1)]
    store.release(ISSUE, "w1", [c.subscriber_id for c in batch])
    assert not store.start_attempt(ISSUE, "w1", batch[0].subscriber_id)
    assert store.start_attempt(ISSUE, "w2", batch[0].subscriber_id)
    assert store.counts(ISSUE)["pending"] == 1


def test_retry_waits_and_bounce_marks_the_subscriber(store: Store) -> None:
    _subscribe(store, 3)
    store.enqueue(ISSUE)
    a, b, c = store.claim_batch(ISSUE, "w", 3, time.time())
    later = time.time() + 60.25
    store.mark_retry(ISSUE, a.subscriber_id, "451 later", later)
    store.mark_failed(ISSUE, b.subscriber_id, "550 5.1.1 no such user", bounced=True)
    store.mark_failed(ISSUE, c.subscriber_id, "not sent: subscriber is unsubscribed",
                      state="skipped")
    assert store.claim_batch(ISSUE, "w", 5, time.time()) == []
    left = store.outstanding(ISSUE)
    assert (left.pending, left.in_flight, left.next_due) == (1, 0, later)
    assert store.subscriber(id=b.subscriber_id).status == "bounced"
    assert store.subscriber(id=c.subscriber_id).status == "active"
    assert store.counts(ISSUE)["skipped"] == 1
    assert store.enqueue("2025-12-05") == 2
    assert store.outstanding("2030-01-01") == type(left)(0, 0, None)


def test_recipients_streams_who_is_left(store: Store) -> None:
    _subscribe(store, 3)
    store.enqueue(ISSUE)
    claim = store.claim_batch(ISSUE, "w", 1, time.time())[0]
    store.mark_sent(ISSUE, claim.subscriber_id, "250 OK")
    assert [s.email for s in store.recipients(ISSUE)] == ["r1@example.org", "r2@example.org"]


def test_forget_removes_the_ledger_rows_too(store: Store) -> None:
    _subscribe(store, 1)
    store.enqueue(ISSUE)
    store.delete_subscriber(store.subscriber("r0@example.org").id)
    assert store.count_subscribers() == 0 and sum(store.counts(ISSUE).values()) == 0


# -- bounces and complaints (schema v4) -----------------------------------------------------


def _sent(store: Store, issue: str) -> list[int]:
    """Every active subscriber's message of `issue`, sent; their ids in order."""
    store.enqueue(issue)
    ids = []
    for claim in store.claim_batch(issue, "w", 100, time.time()):
        store.mark_sent(issue, claim.subscriber_id, "250 OK")
        ids.append(claim.subscriber_id)
    return sorted(ids)


def test_a_report_is_recorded_once_and_counted_per_reader(store: Store) -> None:
    _subscribe(store, 4)
    a, b, c, _ = _sent(store, ISSUE)
    assert store.record_bounce("mid:<1@mx>", ISSUE, a, "hard", "5.1.1")
    assert not store.record_bounce("mid:<1@mx>", ISSUE, a, "hard", "5.1.1")
    assert store.record_bounce("mid:<2@mx>", ISSUE, b, "soft", "4.2.2")
    assert store.record_bounce("mid:<3@mx>", ISSUE, b, "soft", "5.2.2")  # the same reader
    assert store.record_bounce("sha256:00ff", ISSUE, c, "complaint")
    assert store.bounce_rates(ISSUE) == {"hard": 1, "soft": 1, "complaint": 1}
    assert store.bounce_rates("2025-12-05") == {"hard": 0, "soft": 0, "complaint": 0}
    with pytest.raises(ValueError):
        store.record_bounce("mid:<4@mx>", ISSUE, a, "bounced")
    store.delete_subscriber(a)  # forgetting a reader forgets their reports too
    assert store.bounce_rates(ISSUE)["hard"] == 0
    assert store.record_bounce("mid:<1@mx>", ISSUE, b, "hard")  # its key is free again


def test_soft_bounces_in_a_row_restart_after_a_clean_delivery(store: Store) -> None:
    _subscribe(store, 1)
    issues = ["2025-11-07", "2025-11-14", "2025-11-21", "2025-11-28", "2025-12-05"]
    (reader,) = _sent(store, issues[0])
    for issue in issues[1:]:
        _sent(store, issue)
    store.record_bounce("a", issues[0], reader, "soft")
    store.record_bounce("b", issues[1], reader, "soft")
    store.record_bounce("b2", issues[1], reader, "soft")  # a second report of one issue
    assert store.soft_bounces_in_a_row(reader, issues[1]) == 2
    assert store.soft_bounces_in_a_row(reader, issues[0]) == 1  # counted up to that issue
    # issues[2] came back with nothing: delivered. The next soft bounce starts a new row.
    store.record_bounce("d", issues[3], reader, "soft")
    assert store.soft_bounces_in_a_row(reader, issues[3]) == 1
    store.record_bounce("f", issues[4], reader, "hard")  # not a soft one, and not clean
    assert store.soft_bounces_in_a_row(reader, issues[4]) == 1
    store.record_bounce("e", None, reader, "soft")  # names no issue: counted after all
    assert store.soft_bounces_in_a_row(reader, None) == 2


def test_the_last_issue_sent_before_a_date(store: Store) -> None:
    _subscribe(store, 2)
    assert store.last_issue(ISSUE) is None
    _sent(store, "2025-11-14")
    store.enqueue("2025-11-21")  # queued, never sent
    _sent(store, ISSUE)
    assert store.last_issue(ISSUE) == "2025-11-14"
    assert store.last_issue("2025-12-05") == ISSUE


def test_one_send_at_a_time_on_sqlite_any_number_on_postgresql(url: str) -> None:
    with open_url(url) as one, open_url(url) as two:
        with one.send_lock():
            if one.shared:  # PostgreSQL: each process works under its own lease
                with two.send_lock(), one.send_lock():
                    pass
                return
            with pytest.raises(DeliveryError, match="another send is running"), two.send_lock():
                pass
            with pytest.raises(DeliveryError, match="another send is running"), one.send_lock():
                pass
        with two.send_lock():
            pass


# -- leases, takeover, the pace, failures sent again ----------------------------------------


def _in_flight(store: Store, owner: str, count: int, started: int) -> list[int]:
    """`count` rows claimed by `owner`, the first `started` of them marked in flight."""
    batch = store.claim_batch(ISSUE, owner, count, time.time())
    for claim in batch[:started]:
        assert store.start_attempt(ISSUE, owner, claim.subscriber_id)
    return [claim.subscriber_id for claim in batch]


def test_the_rows_of_a_lease_that_ran_out_are_taken_over(store: Store) -> None:
    _subscribe(store, 6)
    store.enqueue(ISSUE)
    store.register_worker("host:1:dead", ISSUE, "host", 1, 0.3)
    store.register_worker("host:2:live", ISSUE, "host", 2, 30)
    _in_flight(store, "host:1:dead/0", 3, 2)
    _in_flight(store, "host:2:live/0", 2, 1)
    assert store.take_over(ISSUE) == 0  # both leases hold
    time.sleep(0.5)
    assert store.take_over(ISSUE) == 2
    assert store.take_over(ISSUE) == 0
    counts = store.counts(ISSUE)
    assert (counts["pending"], counts["claimed"], counts["sending"], counts["in_doubt"]) == \
        (4, 1, 1, 2)
    assert [(w.id, w.state) for w in store.workers(ISSUE)] == \
        [("host:1:dead", "lost"), ("host:2:live", "live")]
    assert all(reply and reply.startswith("in doubt") for *_, reply in
               store.rows(ISSUE, in_doubt=True))


def test_rows_of_an_owner_without_a_lease_are_taken_over(store: Store) -> None:
    _subscribe(store, 2)
    store.enqueue(ISSUE)
    _in_flight(store, "host:9:old", 2, 1)  # as a run of schema v1 named its workers
    assert store.take_over(ISSUE) == 1 and store.counts(ISSUE)["pending"] == 2


def test_an_owner_that_gave_up_hands_back_only_its_rows(store: Store) -> None:
    _subscribe(store, 5)
    store.enqueue(ISSUE)
    store.register_worker("h:1:x", ISSUE, "h", 1, 30)
    mine = _in_flight(store, "h:1:x/0", 3, 1)
    _in_flight(store, "h:1:x/1", 2, 2)
    assert store.abandon(ISSUE, "h:1:x/0") == 1
    counts = store.counts(ISSUE)
    assert (counts["pending"], counts["sending"], counts["in_doubt"]) == (3, 2, 1)
    assert not store.start_attempt(ISSUE, "h:1:x/0", mine[1])
    assert store.abandon(ISSUE, "h:1:x/0") == 0


def test_the_heartbeat_renews_counts_and_ends_a_lease(store: Store) -> None:
    store.register_worker("h:1:a", ISSUE, "h", 1, 0.2)
    store.register_worker("h:2:b", "2025-12-05", "h", 2, 30)
    store.renew_worker("h:1:a", 30, 12, 3)
    time.sleep(0.3)
    worker, = store.workers(ISSUE)
    assert (worker.id, worker.host, worker.pid, worker.sent, worker.failed, worker.state) == \
        ("h:1:a", "h", 1, 12, 3, "live")
    assert 0.2 < worker.heartbeat_age < 5
    store.renew_worker("h:1:a", 30, 13, 3, stopped=True)
    assert store.workers(ISSUE) == []
    assert [w.id for w in store.workers("2025-12-05")] == ["h:2:b"]


def test_leases_that_ended_a_day_ago_are_forgotten(url: str) -> None:
    with open_url(url) as store:
        store.register_worker("h:1:old", ISSUE, "h", 1, 30)
        _sql(url, "UPDATE workers SET lease_until = lease_until - 200000")
        store.register_worker("h:2:new", ISSUE, "h", 2, 30)
        assert [w.id for w in store.workers(ISSUE)] == ["h:2:new"]


def test_retry_failed_brings_back_failures_not_bounces_or_leavers(store: Store) -> None:
    _subscribe(store, 4)
    store.enqueue(ISSUE)
    a, b, c, d = store.claim_batch(ISSUE, "w", 4, time.time())
    for claim in (a, b, c):
        store.start_attempt(ISSUE, "w", claim.subscriber_id)
    store.mark_failed(ISSUE, a.subscriber_id, "gave up after 5 attempts: 451 later")
    store.mark_failed(ISSUE, b.subscriber_id, "550 5.1.1 no such user", bounced=True)
    store.mark_failed(ISSUE, c.subscriber_id, "554 rejected")
    store.set_status(c.subscriber_id, "unsubscribed")
    store.mark_sent(ISSUE, d.subscriber_id, "250 OK")
    assert store.retry_failed(ISSUE) == 1
    assert store.retry_failed(ISSUE) == 0
    again, = store.claim_batch(ISSUE, "w", 4, time.time())
    assert (again.subscriber_id, again.attempts) == (a.subscriber_id, 0)
    counts = store.counts(ISSUE)
    assert (counts["failed"], counts["sent"], counts["claimed"]) == (2, 1, 1)


def test_the_pace_hands_out_slots_an_interval_apart(store: Store) -> None:
    waits = [store.pace(ISSUE, 0.5) for _ in range(3)]
    assert waits[0] < 0.05
    assert abs(waits[1] - 0.5) < 0.05 and abs(waits[2] - 1.0) < 0.05
    assert store.pace("2025-12-05", 0.5) < 0.05  # each issue its own


def test_workers_in_threads_claim_disjoint_batches(url: str) -> None:
    with open_url(url) as store:
        _subscribe(store, 400)
        store.enqueue(ISSUE)
    claimed: list[list[int]] = [[] for _ in range(4)]

    def work(index: int) -> None:
        with open_url(url) as mine:
            while batch := mine.claim_batch(ISSUE, f"w{index}", 7, time.time()):
                claimed[index] += [c.subscriber_id for c in batch]
                for claim in batch:
                    assert mine.start_attempt(ISSUE, f"w{index}", claim.subscriber_id)
                    mine.mark_sent(ISSUE, claim.subscriber_id, "250 OK")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [sid for ids in claimed for sid in ids]
    assert len(every) == len(set(every)) == 400
    with open_url(url) as store:
        assert store.counts(ISSUE)["sent"] == 400


# -- the same story on both: every answer and the final tables agree --------------------------


def _story(store: Store, seed: int) -> list[object]:
    """A random but repeatable mix of every operation; what each one answered."""
    rng = random.Random(seed)
    pool = [f"p{i}@example.org" for i in range(40)]
    said: list[object] = []
    now = 1_764_000_000.0
    for step in range(120):
        move = rng.choice(["upsert"] * 3 + ["status", "name", "forget", "enqueue", "send"] * 2)
        if move == "upsert":
            rows = [(rng.choice(pool), rng.choice(["", "Ann", "Bob"]),
                     rng.choice(["active"] * 4 + ["unsubscribed", "bounced"]))
                    for _ in range(rng.randint(0, 12))]
            said.append(store.upsert_subscribers(rows))
        elif move in ("status", "name", "forget"):
            found = store.subscriber(rng.choice(pool))
            if found is not None and move == "status":
                store.set_status(found.id, rng.choice(["active", "unsubscribed"]))
            elif found is not None and move == "name":
                store.set_name(found.id, rng.choice(["", "Cy", "Di"]))
            elif found is not None:
                store.delete_subscriber(found.id)
        elif move == "enqueue":
            said.append(store.enqueue(rng.choice([ISSUE, "2025-12-05"])))
        else:
            said += _send_some(store, rng, f"w{step % 3}", now + step)
        said.append((store.count_subscribers(), store.counts(ISSUE), store.outstanding(ISSUE)))
    said.append(store.recover(ISSUE))
    said.append([(s.email, s.name, s.status) for s in store.iter_subscribers()])
    said.append([(s.email, s.name, s.status) for s in store.recipients(ISSUE)])
    said.append(list(store.rows(ISSUE)) + list(store.rows("2025-12-05", in_doubt=True)))
    return said


def _send_some(store: Store, rng: random.Random, worker: str, now: float) -> list[object]:
    # Every due row: rows due at the same time may come in another order on each backend
    # (SQLite: the order they were queued in; PostgreSQL: subscriber id).
    batch = sorted(store.claim_batch(ISSUE, worker, 1000, now), key=lambda c: c.email)
    said: list[object] = [[(c.email, c.name, c.status, c.attempts) for c in batch]]
    for claim, upcoming in zip(batch, [*batch[1:], None], strict=False):
        outcome = rng.choice(["sent", "retry", "failed", "bounce", "left", "in flight",
                              "sent and next", "unstarted"])
        if outcome == "left" or not store.start_attempt(ISSUE, worker, claim.subscriber_id):
            continue
        if outcome == "sent":
            store.mark_sent(ISSUE, claim.subscriber_id, "250 OK")
        elif outcome == "sent and next" and upcoming is not None:
            said.append(store.mark_sent_and_start(ISSUE, claim.subscriber_id, "250 OK", worker,
                                                  upcoming.subscriber_id))
        elif outcome == "unstarted":
            store.unstart(ISSUE, claim.subscriber_id)
        elif outcome == "retry":
            store.mark_retry(ISSUE, claim.subscriber_id, "451 later", now + rng.random())
        elif outcome in ("failed", "bounce"):
            store.mark_failed(ISSUE, claim.subscriber_id, "550 no", bounced=outcome == "bounce")
    store.release(ISSUE, worker, [c.subscriber_id for c in batch])
    return said


def _tables(store: Store) -> dict[str, list[tuple]]:
    """Every row keyed by address, without ids (PostgreSQL never reuses one) and timestamps."""
    emails: dict[object, object] = {}
    found: dict[str, list[tuple]] = {table: [] for table in TABLES}
    for table, row in store.dump():
        if table == "subscribers":
            emails[row[0]] = row[1]
            found[table].append(row[1:4])
        else:
            found[table].append((row[0], emails[row[1]], *row[2:-1]))
    return {table: sorted(rows, key=repr) for table, rows in found.items()}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_both_backends_tell_the_same_story(tmp_path: Path, postgres_url: str, seed: int) -> None:
    with open_url(sqlite_url(tmp_path / "s.sqlite3")) as lite, open_url(postgres_url) as pg:
        assert _story(lite, seed) == _story(pg, seed)
        assert _tables(lite) == _tables(pg)


# -- what only PostgreSQL has ---------------------------------------------------------------


def test_a_row_locked_elsewhere_is_skipped_not_waited_for(postgres_url: str) -> None:
    with open_url(postgres_url) as store:
        _subscribe(store, 3)
        store.enqueue(ISSUE)
        first = store.subscriber("r0@example.org").id
        with psycopg.connect(postgres_url) as other:  # a transaction holding one row
            other.execute("SELECT 1 FROM deliveries WHERE subscriber_id = %s FOR UPDATE",
                          (first,))
            started = time.monotonic()
            batch = store.claim_batch(ISSUE, "w", 3, time.time())
            assert time.monotonic() - started < 2
            assert [c.email for c in batch] == ["r1@example.org", "r2@example.org"]
        assert [c.email for c in store.claim_batch(ISSUE, "w", 3, time.time())] == \
            ["r0@example.org"]


def test_takeovers_at_once_never_collide(postgres_url: str) -> None:
    with open_url(postgres_url) as store:
        _subscribe(store, 400)
        store.enqueue(ISSUE)
        for n in range(8):  # eight connections of a lost process, each 50 rows, 20 in flight
            _in_flight(store, f"lost:1:x/{n}", 50, 20)
    barrier = threading.Barrier(4)
    taken: list[int] = []

    def take() -> None:
        with open_url(postgres_url) as mine:
            barrier.wait()
            taken.append(mine.take_over(ISSUE))

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with open_url(postgres_url) as store:
        assert store.take_over(ISSUE) + sum(taken) == 160
        counts = store.counts(ISSUE)
        assert (counts["pending"], counts["in_doubt"]) == (400, 160)


def test_the_lease_tables_are_the_same_in_both_dialects(tmp_path: Path, postgres_url) -> None:
    lite = sqlite_url(tmp_path / "n.sqlite3")
    open_url(lite).close()
    open_url(postgres_url).close()
    schema = postgres_url.rpartition("%3D")[2]
    for table in ("workers", "send_pace"):
        assert [row[1] for row in _sql(lite, f"PRAGMA table_info({table})")] == \
            [row[0] for row in _sql(postgres_url, (
                "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                f"'{schema}' AND table_name = '{table}' ORDER BY ordinal_position"))]


def test_processes_opening_a_new_database_at_once_migrate_it_once(postgres_url: str) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def open_it() -> None:
        try:
            barrier.wait()
            open_url(postgres_url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert _sql(postgres_url, "SELECT version FROM schema_version") == [(latest(),)]


def test_tables_of_another_program_are_one_line(postgres_url: str) -> None:
    _sql(postgres_url, "CREATE TABLE subscribers (who TEXT)")
    with pytest.raises(DeliveryError) as refused:
        open_url(postgres_url)
    assert refused.value.one_line().startswith(
        f"{postgres_url}: cannot make the tables of schema v{latest()}: relation \"subscribers\" "
        "already exists (give newsletter a database")


def test_a_lost_connection_is_one_line(postgres_server, postgres_url: str) -> None:
    with open_url(postgres_url) as store:
        _subscribe(store, 1)
        with postgres_server.admin() as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE application_name = 'newsletter' AND pid <> pg_backend_pid()")
        with pytest.raises(DeliveryError) as lost:
            store.count_subscribers()
    assert lost.value.one_line().startswith(f"lost the connection to {postgres_url}: ")
    assert lost.value.code == "database-unreachable"


def test_a_server_that_cannot_start_fails_loudly(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NEWSLETTER_PG_BINDIR", str(tmp_path / "no-postgresql-here"))
    server = PostgresServer(tmp_path / "cluster")
    with pytest.raises(RuntimeError, match="initdb"):
        server.start()
    server.stop()
    assert not (tmp_path / "cluster").exists()


# -- what links name (schema v3) -------------------------------------------------------------


def test_uids_are_random_unique_and_looked_up(store: Store) -> None:
    _subscribe(store, 5)
    uids = store.subscriber_uids(0, 100)
    assert sorted(uids) == [s.id for s in store.iter_subscribers()]
    assert len(set(uids.values())) == 5
    assert all(len(uid) == 32 and int(uid, 16) >= 0 for uid in uids.values())
    first = store.subscriber("r0@example.org")
    assert first is not None and store.subscriber_by_uid(uids[first.id]) == first
    assert store.subscriber_by_uid("0" * 32) is None
    assert store.subscriber_uids(first.id + 1, 2) == {i: uids[i] for i in (first.id + 1,
                                                                           first.id + 2)}
    assert store.legacy_subscriber(first.id) is None  # added after v3: never by row number
    uid, status, updated_at = store.subscription_state("r0@example.org") or ("", "", "")
    assert (uid, status) == (uids[first.id], "active") and updated_at.endswith("Z")
    assert store.subscription_state("nobody@example.org") is None
    store.upsert_subscribers([("r0@example.org", "New name", "active")])
    assert store.subscriber_uids(first.id, 1) == {first.id: uids[first.id]}  # kept


def test_v3_gives_existing_rows_uids_and_keeps_their_old_links(url: str, monkeypatch) -> None:
    monkeypatch.setattr(migrations_module, "MIGRATIONS", migrations_module.MIGRATIONS[:2])
    open_url(url).close()
    for i in range(3):  # as the code before v3 added them
        _sql(url, "INSERT INTO subscribers (email, created_at, updated_at) VALUES "
                  f"('r{i}@example.org', '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z')")
    monkeypatch.undo()
    with open_url(url) as store:
        assert store.schema_version() == latest()
        uids = store.subscriber_uids(0, 100)
        assert len(set(uids.values())) == 3 and all(len(uid) == 32 for uid in uids.values())
        assert all(store.legacy_subscriber(i) is not None for i in uids)
        store.upsert_subscribers([("late@example.org", "", "active")])
        late = store.subscriber("late@example.org")
        assert late is not None and store.legacy_subscriber(late.id) is None
        assert late.id not in uids and len(store.subscriber_uids(0, 100)[late.id]) == 32


def test_sent_any_tells_an_archived_issue(store: Store) -> None:
    _subscribe(store, 2)
    store.enqueue(ISSUE)
    assert not store.sent_any(ISSUE) and not store.sent_any("2025-12-05")
    [claim, _] = store.claim_batch(ISSUE, "w", 2, time.time())
    assert store.start_attempt(ISSUE, "w", claim.subscriber_id)
    store.mark_sent(ISSUE, claim.subscriber_id, "250 OK")
    assert store.sent_any(ISSUE)


def test_unsubscribe_many_in_one_statement(store: Store) -> None:
    _subscribe(store, 4)
    ids = [s.id for s in store.iter_subscribers()]
    store.set_status(ids[0], "bounced")
    assert store.unsubscribe_many([ids[0], ids[1], ids[2], ids[2]]) == 2
    assert [s.status for s in store.iter_subscribers()] == \
        ["bounced", "unsubscribed", "unsubscribed", "active"]
    assert store.unsubscribe_many([ids[1]]) == 0 and store.unsubscribe_many([]) == 0
