"""Numbered schema migrations, one list for both backends, each step's SQL side by side.

Version N is `MIGRATIONS[N - 1]`; a backend applies the steps it lacks in order, inside one
transaction, and records the new version in `schema_version`. The two dialects differ only
where they must: SQLite's ``INTEGER PRIMARY KEY`` (an alias of the rowid) is PostgreSQL's
``BIGINT GENERATED ALWAYS AS IDENTITY``, ``REAL`` is ``DOUBLE PRECISION``, and the text keys
(addresses, issue dates) are ``COLLATE "C"`` to compare byte by byte as SQLite does, whatever
the database's locale (which also makes the address index cheaper to keep). The rest,
names, constraints, defaults and the text timestamps of `stamp()`, is the same, so `db copy`
moves rows between them as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from newsletter.errors import DeliveryError


@dataclass(frozen=True)
class Migration:
    """One schema version: the statements that reach it from the version before."""

    version: int
    sqlite: tuple[str, ...]
    postgresql: tuple[str, ...]

    def statements(self, dialect: str) -> tuple[str, ...]:
        return self.sqlite if dialect == "sqlite" else self.postgresql


_SUBSCRIBERS = """
    CREATE TABLE subscribers (
        id {id},
        email TEXT{text} NOT NULL UNIQUE,
        name TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'active'
            CHECK (status IN ('active', 'unsubscribed', 'bounced')),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL)"""
_DELIVERIES = """
    CREATE TABLE deliveries (
        issue_date TEXT{text} NOT NULL,
        subscriber_id {ref} NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
        email TEXT{text} NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN
            ('pending', 'claimed', 'sending', 'sent', 'failed', 'skipped')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at {real} NOT NULL DEFAULT 0,
        worker TEXT,
        in_doubt INTEGER NOT NULL DEFAULT 0,
        reply TEXT,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (issue_date, subscriber_id))"""
# SQLite compares text byte by byte; PostgreSQL by the database's locale unless told.
_BYTEWISE = ' COLLATE "C"'
_INDEXES = (
    "CREATE INDEX subscribers_by_status ON subscribers (status, id)",
    "CREATE INDEX deliveries_queue ON deliveries (issue_date, state, next_attempt_at)",
)

_V1 = Migration(
    1,
    sqlite=(_SUBSCRIBERS.format(id="INTEGER PRIMARY KEY", text=""),
            _DELIVERIES.format(ref="INTEGER", real="REAL", text=""),
            *_INDEXES),
    postgresql=(_SUBSCRIBERS.format(id="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
                                    text=_BYTEWISE),
                _DELIVERIES.format(ref="BIGINT", real="DOUBLE PRECISION", text=_BYTEWISE),
                *_INDEXES),
)

# v2: many send processes on one ledger. A process holds a lease (a `workers` row it renews);
# a ledger row's `worker` is "<lease id>/<connection>", so rows whose lease ran out are found
# by a join, without writing every row at each renewal. `send_pace` is the next free send
# slot of an issue, shared by every process for a rate limit over all of them. Times are
# epoch seconds of the database's clock (PostgreSQL), so machines need not agree on the time.
_WORKERS = """
    CREATE TABLE workers (
        id TEXT{text} PRIMARY KEY,
        issue_date TEXT{text} NOT NULL,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        started_at {real} NOT NULL,
        heartbeat_at {real} NOT NULL,
        lease_until {real} NOT NULL,
        sent INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        stopped INTEGER NOT NULL DEFAULT 0 CHECK (stopped IN (0, 1, 2)))"""
_PACE = """
    CREATE TABLE send_pace (
        issue_date TEXT{text} PRIMARY KEY,
        next_slot {real} NOT NULL DEFAULT 0)"""
_WORKERS_INDEX = "CREATE INDEX workers_by_issue ON workers (issue_date, stopped)"

_V2 = Migration(
    2,
    sqlite=(_WORKERS.format(real="REAL", text=""), _PACE.format(real="REAL", text=""),
            _WORKERS_INDEX),
    postgresql=(_WORKERS.format(real="DOUBLE PRECISION", text=_BYTEWISE),
                _PACE.format(real="DOUBLE PRECISION", text=_BYTEWISE), _WORKERS_INDEX),
)

# v4: bounces and complaints read from returned mail (`newsletter bounces`), one row per
# report, keyed by the report's Message-ID (or its hash) so reading a report twice records it
# once. Soft bounces "in a row" are counted from these rows and the ledger, not kept.
_BOUNCE_EVENTS = """
    CREATE TABLE bounce_events (
        message_key TEXT{text} PRIMARY KEY,
        issue_date TEXT{text},
        subscriber_id {ref} NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('hard', 'soft', 'complaint')),
        status TEXT,
        at TEXT NOT NULL)"""
_BOUNCE_INDEXES = (
    "CREATE INDEX bounce_events_by_issue ON bounce_events (issue_date, kind)",
    "CREATE INDEX bounce_events_by_subscriber ON bounce_events (subscriber_id, issue_date)",
)
_V4 = Migration(
    4,
    sqlite=(_BOUNCE_EVENTS.format(ref="INTEGER", text=""), *_BOUNCE_INDEXES),
    postgresql=(_BOUNCE_EVENTS.format(ref="BIGINT", text=_BYTEWISE), *_BOUNCE_INDEXES),
)
# v3: every subscriber gets a random `uid` that links name instead of the row number (SQLite
# hands a forgotten reader's id to the next one added, and ids count the list). Rows present
# when it runs are marked `legacy_tokens`: only their `<id>.<sig>` links, sent before, are
# still honoured; a row added later, perhaps on a reused id, never accepts one. SQLite cannot
# add a column with a computed default, so a trigger gives each new row its uid.
_NEW_UID_SQLITE = "lower(hex(randomblob(16)))"
_V3 = Migration(
    3,
    sqlite=("ALTER TABLE subscribers ADD COLUMN uid TEXT",
            "ALTER TABLE subscribers ADD COLUMN legacy_tokens INTEGER NOT NULL DEFAULT 0",
            f"UPDATE subscribers SET uid = {_NEW_UID_SQLITE}, legacy_tokens = 1",
            "CREATE UNIQUE INDEX subscribers_by_uid ON subscribers (uid)",
            f"""CREATE TRIGGER subscribers_new_uid AFTER INSERT ON subscribers
                FOR EACH ROW WHEN NEW.uid IS NULL BEGIN
                    UPDATE subscribers SET uid = {_NEW_UID_SQLITE} WHERE id = NEW.id;
                END"""),
    postgresql=('ALTER TABLE subscribers ADD COLUMN uid TEXT COLLATE "C" NOT NULL '
                "DEFAULT replace(gen_random_uuid()::text, '-', '')",
                "ALTER TABLE subscribers ADD COLUMN legacy_tokens INTEGER NOT NULL DEFAULT 1",
                "ALTER TABLE subscribers ALTER COLUMN legacy_tokens SET DEFAULT 0",
                "CREATE UNIQUE INDEX subscribers_by_uid ON subscribers (uid)"),
)

# v5: the queue index ends with subscriber_id, the claim's tie-breaker, so a claim reads its
# batch in index order and stops after it. Without it PostgreSQL read and sorted every pending
# row of the issue for each batch of 50 (9 ms a claim at 20,000 readers).
_QUEUE = ("DROP INDEX deliveries_queue",
          "CREATE INDEX deliveries_queue ON deliveries "
          "(issue_date, state, next_attempt_at, subscriber_id)")
_V5 = Migration(5, sqlite=_QUEUE, postgresql=_QUEUE)

# Append only, never edit a released step: a database at version N has run steps 1..N.
MIGRATIONS: list[Migration] = [_V1, _V2, _V3, _V4, _V5]


def latest() -> int:
    """The schema version this program writes."""
    return len(MIGRATIONS)


def pending(current: int, where: str | Path) -> list[Migration]:
    """The steps a database at version `current` lacks; a newer database is refused.

    `where` names the database in the error: a path, or a URL with its password masked.
    """
    if current > latest():
        path = where if isinstance(where, Path) else None
        prefix = "" if path is not None else f"{where}: "
        raise DeliveryError(
            f"{prefix}database schema v{current} is newer than this program (v{latest()})",
            path=path, hint="upgrade newsletter", code="schema-newer")
    return MIGRATIONS[current:]
