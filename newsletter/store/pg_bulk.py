"""Bulk work of the PostgreSQL store: imports by COPY, and `db copy`'s dump and load.

A part of `PostgresStore` (a mixin, kept apart to keep each module readable): the methods
that move many rows at once. An import COPYs the rows into a temporary table as they are
read and upserts them from it in one statement; `dump` reads one REPEATABLE READ snapshot
through server-side cursors, `load` COPYs each table in one transaction.
"""

from __future__ import annotations

import itertools
from collections.abc import Generator, Iterable
from contextlib import AbstractContextManager
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import errors as pg_errors

from newsletter.errors import DeliveryError
from newsletter.store.base import TABLES, Row, stamp

_CHUNK = 2000  # rows fetched per round trip by `dump`

_UPSERT = """
    INSERT INTO subscribers AS s (email, name, status, created_at, updated_at)
    SELECT email, name, status, %(now)s, %(now)s FROM {rows}
    ON CONFLICT (email) DO UPDATE SET
        name = CASE WHEN excluded.name = '' THEN s.name ELSE excluded.name END,
        status = CASE WHEN s.status = 'active' THEN excluded.status ELSE s.status END,
        updated_at = excluded.updated_at
    WHERE (excluded.name <> '' AND excluded.name <> s.name)
       OR (s.status = 'active' AND excluded.status <> 'active')"""
_ONE_ROW = "(VALUES (%(email)s, %(name)s, %(status)s)) AS i (email, name, status)"

class PgBulk:
    """`upsert_subscribers`, `dump` and `load` of `PostgresStore`."""

    url: str
    _db: psycopg.Connection[Any]

    if TYPE_CHECKING:
        def _guard(self) -> AbstractContextManager[None]: ...
        def _transaction(self) -> AbstractContextManager[psycopg.Cursor[Any]]: ...
        def _scrub(self, text: str) -> str: ...
        def count_subscribers(self, status: str | None = None) -> int: ...

    def upsert_subscribers(self, rows: Iterable[tuple[str, str, str]]) -> tuple[int, int]:
        """Insert or update (email, name, status) rows in one transaction: (added, updated).

        A blank name keeps the stored one. An address that has left (unsubscribed, bounced)
        is never made active again; an import may still mark an active address as left.
        The rows go by COPY into a temporary table as they are read, then one statement
        upserts them in their order (row by row if an address comes twice).
        """
        now = stamp()
        with self._transaction() as cursor:
            cursor.execute('CREATE TEMPORARY TABLE import_rows (seq BIGINT, email TEXT '
                           'COLLATE "C", name TEXT, status TEXT) ON COMMIT DROP')
            with cursor.copy("COPY import_rows (seq, email, name, status) FROM STDIN") as copy:
                for seq, (email, name, status) in enumerate(rows):
                    copy.write_row((seq, email, name, status))
            before = self.count_subscribers()
            try:
                with self._db.transaction():  # a savepoint: the statement may be refused
                    cursor.execute(_UPSERT.format(rows="import_rows ORDER BY seq"),
                                   {"now": now})
            except pg_errors.CardinalityViolation:  # "cannot affect row a second time"
                cursor.execute("SELECT email, name, status FROM import_rows ORDER BY seq")
                cursor.executemany(_UPSERT.format(rows=_ONE_ROW), [
                    {"now": now, "email": email, "name": name, "status": status}
                    for email, name, status in cursor.fetchall()])
            changed = cursor.rowcount
            added = self.count_subscribers() - before
        return added, changed - added

    def dump(self) -> Generator[tuple[str, Row], None, None]:
        """(table, row) of every row in key order, from one REPEATABLE READ snapshot."""
        with self._guard(), self._db.transaction():
            self._db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            for table, columns in TABLES.items():
                with self._db.cursor(name=f"dump_{table}") as cursor:
                    cursor.itersize = _CHUNK
                    cursor.execute(f"SELECT {', '.join(columns)} FROM {table} "
                                   f"ORDER BY {columns[0]}, {columns[1]}")
                    for row in cursor:
                        yield table, row

    def load(self, rows: Iterable[tuple[str, Row]]) -> dict[str, int]:
        """Rows as `dump` yields them (ids kept) into this empty store, in one transaction.

        Each table is filled by COPY; then the id sequence moves past the highest id copied.
        """
        loaded = dict.fromkeys(TABLES, 0)
        with self._transaction() as cursor:
            cursor.execute("LOCK TABLE subscribers, deliveries IN EXCLUSIVE MODE")
            cursor.execute("SELECT (SELECT count(*) FROM subscribers), "
                           "(SELECT count(*) FROM deliveries)")
            found = cursor.fetchone() or (0, 0)
            if any(found):
                raise DeliveryError(f"{self.url} is not empty: {found[0]} subscriber(s), "
                                    f"{found[1]} ledger row(s)", code="not-empty",
                                    hint="copy into a new, empty database")
            for table, group in itertools.groupby(rows, key=itemgetter(0)):
                columns = ", ".join(TABLES[table])
                try:
                    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                        for _, row in group:
                            copy.write_row(row)
                            loaded[table] += 1
                except (psycopg.DataError, psycopg.IntegrityError) as exc:  # e.g. a NUL in text
                    raise DeliveryError(
                        f"{self.url}: {table} row {loaded[table] + 1} cannot be stored: "
                        f"{self._scrub(str(exc))}", code="bad-row",
                        hint="correct that row in the source and copy again") from None
            cursor.execute("SELECT setval(pg_get_serial_sequence('subscribers', 'id'), "
                           "coalesce(max(id), 0) + 1, false) FROM subscribers")
        return loaded
