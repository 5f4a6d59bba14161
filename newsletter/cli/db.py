"""Commands on the database as a whole: `db copy`."""

from __future__ import annotations

import click


@click.group()
def db() -> None:
    """The subscriber database as a whole: move it between SQLite and PostgreSQL."""


@db.command(name="copy")
@click.argument("from_url", metavar="FROM_URL")
@click.argument("to_url", metavar="TO_URL")
def copy_(from_url: str, to_url: str) -> None:
    """Copy every subscriber and the send ledger from FROM_URL into the empty TO_URL.

    Each is a SQLite file path, sqlite:///path or postgresql://user@host:port/db (the
    password from PGPASSWORD or ~/.pgpass). Ids are kept, so unsubscribe links already sent
    keep working. A target that already holds rows is refused.
    """
    from newsletter.commands.db import copy

    report = copy(from_url, to_url)
    click.echo(f"copied {report.subscribers} subscriber(s) and {report.deliveries} ledger "
               f"row(s) from {report.source} to {report.target}")
