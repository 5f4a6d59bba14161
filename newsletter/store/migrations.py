"""Numbered schema migrations of the SQLite store, applied in order inside one transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable


def _v1(db: sqlite3.Connection) -> None:
    db.execute("""
        CREATE TABLE subscribers (
            id INTEGER PRIMARY KEY,
            email TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'unsubscribed', 'bounced')),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL)""")
    db.execute("CREATE INDEX subscribers_by_status ON subscribers (status, id)")
    db.execute("""
        CREATE TABLE deliveries (
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
            PRIMARY KEY (issue_date, subscriber_id))""")
    db.execute("CREATE INDEX deliveries_queue ON deliveries (issue_date, state, next_attempt_at)")


# Append only: each function moves the schema one version up, inside one transaction.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1]
