"""The store on a real SQLite file: migrations, upserts, and the ledger's state machine."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from newsletter.errors import DeliveryError
from newsletter.store.base import Store
from newsletter.store.migrations import MIGRATIONS
from newsletter.store.sqlite import SQLiteStore

ISSUE = "2025-11-28"


@pytest.fixture
def store(tmp_path: Path):
    with SQLiteStore(tmp_path / "news.sqlite3") as opened:
        yield opened


def _subscribe(store: Store, count: int) -> None:
    store.upsert_subscribers((f"r{i}@example.org", f"R {i}", "active") for i in range(count))


def test_created_on_first_use_with_wal_and_version(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "news.sqlite3"
    with SQLiteStore(path) as store:
        assert store.schema_version() == len(MIGRATIONS)
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        assert {"subscribers", "deliveries", "schema_version"} <= tables
    finally:
        db.close()
    with SQLiteStore(path) as again:  # reopening migrates nothing and keeps the version
        assert again.schema_version() == len(MIGRATIONS)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "news.sqlite3"
    SQLiteStore(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE schema_version SET version = 99")
    db.commit()
    db.close()
    with pytest.raises(DeliveryError, match="schema v99 is newer"):
        SQLiteStore(path)


def test_not_a_database_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "news.sqlite3"
    path.write_text("this is not sqlite, just text that is long enough to be a header " * 10)
    with pytest.raises(DeliveryError, match="not a usable database"):
        SQLiteStore(path)


def test_upsert_is_idempotent_and_never_reactivates(store: Store) -> None:
    rows = [("a@example.org", "Ann", "active"), ("b@example.org", "Bob", "active")]
    assert store.upsert_subscribers(rows) == (2, 0)
    assert store.upsert_subscribers(rows) == (0, 0)
    store.set_status(store.subscriber("a@example.org").id, "unsubscribed")
    assert store.upsert_subscribers([("a@example.org", "Ann", "active")]) == (0, 0)
    assert store.subscriber("a@example.org").status == "unsubscribed"
    # A blank name keeps the stored one; a new name and a suppression are updates.
    assert store.upsert_subscribers([("b@example.org", "", "active")]) == (0, 0)
    assert store.upsert_subscribers([("b@example.org", "Robert", "bounced")]) == (0, 1)
    assert store.subscriber("b@example.org") .name == "Robert"
    assert store.subscriber("b@example.org").status == "bounced"


def test_enqueue_claim_send_and_counts(store: Store) -> None:
    _subscribe(store, 5)
    store.set_status(store.subscriber("r4@example.org").id, "unsubscribed")
    assert store.enqueue(ISSUE) == 4
    assert store.enqueue(ISSUE) == 0  # a second run adds nobody twice
    first = store.claim_batch(ISSUE, "w1", 3, time.time())
    second = store.claim_batch(ISSUE, "w2", 3, time.time())
    assert len(first) == 3 and len(second) == 1
    assert not {c.subscriber_id for c in first} & {c.subscriber_id for c in second}
    claim = first[0]
    assert not store.start_attempt(ISSUE, "w2", claim.subscriber_id)  # not w2's claim
    assert store.start_attempt(ISSUE, "w1", claim.subscriber_id)
    store.mark_sent(ISSUE, claim.subscriber_id, "250 OK")
    store.release(ISSUE, "w2", [c.subscriber_id for c in first + second])  # only its own
    assert store.counts(ISSUE)["claimed"] == 2
    store.release(ISSUE, "w1", [c.subscriber_id for c in first])
    counts = store.counts(ISSUE)
    assert (counts["sent"], counts["pending"], counts["claimed"]) == (1, 3, 0)
    assert list(store.rows(ISSUE, "sent")) == [(claim.email, "sent", 1, "250 OK")]


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
    # The next row is no longer this worker's claim: the sent one is still recorded.
    store.release(ISSUE, "w1", [third.subscriber_id])
    assert not store.mark_sent_and_start(ISSUE, second.subscriber_id, "250 OK", "w1",
                                         third.subscriber_id)
    counts = store.counts(ISSUE)
    assert (counts["sent"], counts["sending"], counts["pending"]) == (2, 0, 1)


def test_recover_reports_only_rows_in_flight(store: Store) -> None:
    _subscribe(store, 4)
    store.enqueue(ISSUE)
    batch = store.claim_batch(ISSUE, "dead", 4, time.time())
    store.start_attempt(ISSUE, "dead", batch[0].subscriber_id)  # pushed when the run died
    assert store.recover(ISSUE) == 1
    counts = store.counts(ISSUE)
    assert (counts["pending"], counts["in_doubt"], counts["claimed"]) == (4, 1, 0)
    assert [row[0] for row in store.rows(ISSUE, in_doubt=True)] == [batch[0].email]


def test_a_retried_row_claimed_by_another_worker_stays_theirs(store: Store) -> None:
    _subscribe(store, 2)
    store.enqueue(ISSUE)
    batch = store.claim_batch(ISSUE, "w1", 2, time.time())
    store.start_attempt(ISSUE, "w1", batch[0].subscriber_id)
    store.mark_retry(ISSUE, batch[0].subscriber_id, "451 later", 0)
    taken = store.claim_batch(ISSUE, "w2", 2, time.time())
    assert [c.subscriber_id for c in taken] == [batch[0].subscriber_id]
    store.release(ISSUE, "w1", [c.subscriber_id for c in batch])  # w1's batch ends
    assert not store.start_attempt(ISSUE, "w1", batch[0].subscriber_id)
    assert store.start_attempt(ISSUE, "w2", batch[0].subscriber_id)
    assert store.counts(ISSUE)["pending"] == 1  # batch[1] went back


def test_retry_waits_and_bounce_marks_the_subscriber(store: Store) -> None:
    _subscribe(store, 2)
    store.enqueue(ISSUE)
    a, b = store.claim_batch(ISSUE, "w", 2, time.time())
    store.mark_retry(ISSUE, a.subscriber_id, "451 later", time.time() + 60)
    store.mark_failed(ISSUE, b.subscriber_id, "550 5.1.1 no such user", bounced=True)
    assert store.claim_batch(ISSUE, "w", 5, time.time()) == []  # not due yet
    left = store.outstanding(ISSUE)
    assert left.pending == 1 and left.in_flight == 0 and left.next_due > time.time()
    assert store.subscriber(id=b.subscriber_id).status == "bounced"
    assert store.enqueue("2025-12-05") == 1  # the bounced address is not queued again


def test_recipients_streams_who_is_left(store: Store) -> None:
    _subscribe(store, 3)
    store.enqueue(ISSUE)
    claim = store.claim_batch(ISSUE, "w", 1, time.time())[0]
    store.mark_sent(ISSUE, claim.subscriber_id, "250 OK")
    left = [s.email for s in store.recipients(ISSUE)]
    assert claim.email not in left and len(left) == 2


def test_forget_removes_the_ledger_rows_too(store: Store) -> None:
    _subscribe(store, 1)
    store.enqueue(ISSUE)
    store.delete_subscriber(store.subscriber("r0@example.org").id)
    assert store.count_subscribers() == 0 and sum(store.counts(ISSUE).values()) == 0


def test_only_one_send_at_a_time(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "n.sqlite3") as one, SQLiteStore(tmp_path / "n.sqlite3") as two:
        with one.send_lock(), pytest.raises(DeliveryError, match="another send is running"), \
                two.send_lock():
            pass
        with two.send_lock():
            pass
