"""The store: a `Store` protocol, its SQLite backend and migrations, and `open_store(config)`."""

from __future__ import annotations

from newsletter.config import Config
from newsletter.store.base import Store


def open_store(config: Config) -> Store:
    """The store the configuration names (the SQLite file `delivery.database`)."""
    from newsletter.store.sqlite import SQLiteStore

    return SQLiteStore(config.database_path)
