"""The store: a `Store` protocol, its SQLite and PostgreSQL backends, and `open_store(config)`.

The backend follows the URL's scheme (store/urls.py): a path or ``sqlite:///`` opens the
SQLite file, ``postgresql://`` a server, whose driver is imported only then.
"""

from __future__ import annotations

from newsletter.config import Config
from newsletter.store.base import Store
from newsletter.store.urls import database_url, is_sqlite, sqlite_path


def open_store(config: Config) -> Store:
    """The store the configuration names: $NEWSLETTER_DATABASE_URL, else `delivery.database`."""
    return open_url(database_url(config))


def open_url(url: str) -> Store:
    """The store at a resolved URL (as `database_url` or `resolve_url` gives it)."""
    if is_sqlite(url):
        from newsletter.store.sqlite import SQLiteStore

        return SQLiteStore(sqlite_path(url))
    from newsletter.store.postgresql import PostgresStore

    return PostgresStore(url)
