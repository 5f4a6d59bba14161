"""Database URLs: which backend keeps the list, where, and how to show one safely.

Three spellings name a database: a plain path (``newsletter.sqlite3``), ``sqlite:///path``
(``sqlite:////absolute/path``), both SQLite, and ``postgresql://user@host:port/db``
(``postgres://`` too, and whatever else libpq reads in a URL, e.g. ``?service=name``). A
relative SQLite path is taken from the folder of newsletter.toml (or, on the command line,
from the current folder). A password is better left out of the URL: libpq reads it from
``PGPASSWORD``, ``~/.pgpass`` or a service file. Where one is given anyway, every URL shown
in output and errors goes through `mask_password` first.

Kept free of heavy imports: `open_store` resolves a URL on every command.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.errors import ConfigError, NewsletterError

if TYPE_CHECKING:
    from newsletter.config import Config

ENV = "NEWSLETTER_DATABASE_URL"
SQLITE = "sqlite:///"
POSTGRES_SCHEMES = ("postgresql", "postgres")
MASK = "***"
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
# A URL that lost one slash of its "//" to a Path (pathlib folds "//" into "/"), as long as
# Delivery.database is typed Path in config.py.
_FOLDED = re.compile(r"(postgresql|postgres):/(?=[^/])")
_QUERY_PASSWORD = re.compile(r"([?&]password=)([^&#]*)")
_FORMS = "a file path, sqlite:///relative/path, sqlite:////absolute/path or " \
         "postgresql://user@host:port/database"


def database_url(config: Config) -> str:
    """$NEWSLETTER_DATABASE_URL, else `delivery.database`, as a URL (SQLite's absolute).

    A relative SQLite path, in either, is taken from the folder of newsletter.toml.
    """
    from_env = os.environ.get(ENV, "").strip()
    if from_env:
        return resolve_url(from_env, config.root, source=ENV)
    return resolve_url(str(config.delivery.database), config.root, source="delivery.database")


def resolve_url(text: str, base: Path, *, source: str = "delivery.database",
                error: type[NewsletterError] = ConfigError) -> str:
    """`text` (a path or a URL) as a URL; a relative SQLite path is taken from `base`.

    `source` names the setting or argument in the error for an unusable value.
    """
    text = _FOLDED.sub(r"\1://", text.strip(), count=1)
    if not text:
        raise error(f"{source}: no database given", hint=f"use {_FORMS}")
    match = _SCHEME.match(text)
    if match is None:
        if text.lower().startswith("sqlite:"):
            raise error(f"{source}: {text!r} is not a SQLite URL", hint=f"use {_FORMS}")
        return sqlite_url(_absolute(Path(text), base))
    scheme = match[1].lower()
    if scheme in POSTGRES_SCHEMES:
        return text
    if scheme == "sqlite":
        path = text[match.end():]
        if not path.startswith("/") or path == "/":
            raise error(f"{source}: a SQLite URL has no host and needs a path: {text!r}",
                        hint=f"use {_FORMS}")
        return sqlite_url(_absolute(Path(path[1:]), base))
    raise error(f"{source}: unsupported database {scheme}:// in {mask_password(text)!r}",
                hint=f"use {_FORMS}")


def _absolute(path: Path, base: Path) -> Path:
    return path if path.is_absolute() else base / path


def sqlite_url(path: Path) -> str:
    """``sqlite:///`` and the path as it is (an absolute one gives ``sqlite:////...``)."""
    return SQLITE + str(path)


def is_sqlite(url: str) -> bool:
    return url.startswith(SQLITE)


def sqlite_path(url: str) -> Path:
    """The file of a ``sqlite:///`` URL (the rest of the URL taken literally, no escapes)."""
    return Path(url[len(SQLITE):])


def mask_password(url: str) -> str:
    """The URL with any password replaced by ``***``: in the user part and in ``?password=``.

    The user part ends where libpq ends it, at the first ``@`` before any ``/``; an ``@``
    later in the address (a password holding an unescaped ``/``) ends it too, so such a
    password is hidden even though libpq would not read it as one.
    """
    for start, end in reversed(_password_spans(url)):
        url = url[:start] + MASK + url[end:]
    return url


def passwords(url: str) -> list[str]:
    """Each password in the URL as written and %-decoded (as libpq reads it), longest first:
    what to scrub from any message that might quote it."""
    from urllib.parse import unquote

    found = {url[start:end] for start, end in _password_spans(url)}
    found |= {unquote(text) for text in found}
    return sorted((text for text in found if text), key=len, reverse=True)


def _password_spans(url: str) -> list[tuple[int, int]]:
    """(start, end) of each password in the URL, in order."""
    match = _SCHEME.match(url)
    if match is None or match[1].lower() == "sqlite":  # a file path holds no password
        return []
    spans = []
    offset = match.end()
    rest = url[offset:]
    end = _userinfo_end(rest)
    colon = rest.find(":", 0, end) if end is not None else -1
    if colon >= 0 and end is not None:
        spans.append((offset + colon + 1, offset + end))
    after = spans[-1][1] if spans else offset
    spans += [found.span(2) for found in _QUERY_PASSWORD.finditer(url, after)]
    return spans


def _userinfo_end(rest: str) -> int | None:
    """Where the ``user[:password]`` part of a URL (after ``//``) ends: its ``@``, or None."""
    stop = re.search(r"[@/]", rest)
    if stop is not None and stop[0] == "@":
        return stop.start()
    query = rest.find("?")
    at = rest.rfind("@", 0, query if query >= 0 else len(rest))
    return at if at >= 0 else None
