"""`newsletter db ...`: the database itself, e.g. moving the list from SQLite to PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from newsletter.errors import UsageError
from newsletter.store.copy import CopyReport, copy_database
from newsletter.store.urls import resolve_url


def copy(from_text: str, to_text: str) -> CopyReport:
    """`newsletter db copy FROM TO`: each a path, sqlite:///path or postgresql://... URL.

    Relative SQLite paths are taken from the current folder, like any file argument.
    """
    here = Path.cwd()
    return copy_database(resolve_url(from_text, here, source="FROM_URL", error=UsageError),
                         resolve_url(to_text, here, source="TO_URL", error=UsageError))
