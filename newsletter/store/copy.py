"""Moving a list: every subscriber and the whole send ledger from one database into another.

`copy_database(from_url, to_url)` reads the source in one snapshot and writes the target in
one transaction (COPY on PostgreSQL), so the target ends up with all of it or nothing. Rows
keep their ids: the unsubscribe links already sent name subscribers by id, and keep working
after the move (with the same signing key). The target must be empty: a copy never merges.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass

from newsletter.errors import DeliveryError
from newsletter.store import open_url
from newsletter.store.urls import is_sqlite, mask_password, sqlite_path


@dataclass(frozen=True)
class CopyReport:
    source: str  # URLs fit for output (passwords masked)
    target: str
    subscribers: int
    deliveries: int


def copy_database(from_url: str, to_url: str) -> CopyReport:
    """Copy subscribers and the ledger from `from_url` into the empty database at `to_url`.

    Both are resolved URLs (`resolve_url`). The target is created (a SQLite file) or given
    the schema (a PostgreSQL database) if need be; one with any row is refused.
    """
    if _same(from_url, to_url):
        raise DeliveryError(f"{mask_password(from_url)} is both the source and the target",
                            hint="name another database to copy into", code="same-database")
    if is_sqlite(from_url) and not sqlite_path(from_url).is_file():
        raise DeliveryError("no database to copy from", path=sqlite_path(from_url),
                            hint="check the path", code="no-database")
    with open_url(from_url) as source, open_url(to_url) as target, \
            closing(source.dump()) as rows:  # its snapshot ends before the store closes
        loaded = target.load(rows)
        return CopyReport(source.url, target.url, loaded["subscribers"], loaded["deliveries"])


def _same(from_url: str, to_url: str) -> bool:
    if is_sqlite(from_url) and is_sqlite(to_url):
        return sqlite_path(from_url).resolve() == sqlite_path(to_url).resolve()
    return from_url == to_url
