"""Commands on the list: `subscribers import|add|remove|list|export` and `unsubscribe`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from newsletter.cli.context import context_config, shown

STATUS_CHOICE = click.Choice(["active", "unsubscribed", "bounced"])


@click.group()
def subscribers() -> None:
    """Manage the subscriber list (SQLite or PostgreSQL: delivery.database)."""


@subscribers.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def import_(ctx: click.Context, file: Path) -> None:
    """Add or update subscribers from a CSV file with columns email, name, status (optional).

    Bad rows are reported with their line numbers and skipped. Importing the same file again
    changes nothing; unsubscribed and bounced addresses are never made active again.
    """
    from newsletter.commands.subscribers import import_csv

    report = import_csv(context_config(ctx), file)
    for line, problem in report.bad:
        click.echo(f"{file}:{line}: skipped: {problem}", err=True)
    click.echo(f"imported {file}: {report.added} added, {report.updated} updated, "
               f"{report.unchanged} unchanged, {len(report.bad)} bad row(s) skipped")


@subscribers.command()
@click.argument("email")
@click.option("--name", default="", help="Name used in the greeting.")
@click.option("--reactivate", is_flag=True,
              help="Subscribe again an address that unsubscribed or bounced.")
@click.pass_context
def add(ctx: click.Context, email: str, name: str, reactivate: bool) -> None:
    """Subscribe one address."""
    from newsletter.commands.subscribers import add as add_subscriber

    click.echo(add_subscriber(context_config(ctx), email, name, reactivate=reactivate))


@subscribers.command()
@click.argument("email")
@click.option("--forget", is_flag=True,
              help="Erase the address and its delivery history instead of keeping it as "
                   "unsubscribed (a later import could then add it again).")
@click.pass_context
def remove(ctx: click.Context, email: str, forget: bool) -> None:
    """Stop mailing an address: it stays on the list as unsubscribed."""
    from newsletter.commands.subscribers import remove as remove_subscriber

    click.echo(remove_subscriber(context_config(ctx), email, forget=forget))


@subscribers.command(name="list")
@click.option("--status", type=STATUS_CHOICE, help="Only subscribers with this status.")
@click.pass_context
def list_(ctx: click.Context, status: str | None) -> None:
    """Print the subscribers, one per line: email, status, name."""
    from newsletter.commands.subscribers import iter_subscribers

    for subscriber in iter_subscribers(context_config(ctx), status):
        click.echo(f"{subscriber.email}\t{subscriber.status}\t{shown(subscriber.name)}")


@subscribers.command()
@click.option("--status", type=STATUS_CHOICE, help="Only subscribers with this status.")
@click.pass_context
def export(ctx: click.Context, status: str | None) -> None:
    """Write the subscribers as CSV (email,name,status) to stdout, ready to import."""
    from newsletter.commands.subscribers import export_csv

    export_csv(context_config(ctx), sys.stdout, status)


@click.command()
@click.argument("token")
@click.pass_context
def unsubscribe(ctx: click.Context, token: str) -> None:
    """Apply an unsubscribe token (from a List-Unsubscribe link or POST)."""
    from newsletter.commands.subscribers import unsubscribe as apply_token

    click.echo(apply_token(context_config(ctx), token))
