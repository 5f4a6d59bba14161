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

# Append only, never edit a released step: a database at version N has run steps 1..N.
MIGRATIONS: list[Migration] = [_V1]


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
