"""Commands `subscribers`, `send`, `status` and `unsubscribe`: parse, call one core function.

Imports of the delivery modules stay inside the functions so `newsletter --help` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .cli import context_config, issue_date

STATUS_CHOICE = click.Choice(["active", "unsubscribed", "bounced"])


def _shown(text: str) -> str:
    """A stored value as one safe line: control characters as escapes (\\r, \\n)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


@click.group()
def subscribers() -> None:
    """Manage the subscriber list (a SQLite file beside newsletter.toml)."""


@subscribers.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def import_(ctx: click.Context, file: Path) -> None:
    """Add or update subscribers from a CSV file with columns email, name, status (optional).

    Bad rows are reported with their line numbers and skipped. Importing the same file again
    changes nothing; unsubscribed and bounced addresses are never made active again.
    """
    from .subscribers import import_csv

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
    from .subscribers import add as add_subscriber

    click.echo(add_subscriber(context_config(ctx), email, name, reactivate=reactivate))


@subscribers.command()
@click.argument("email")
@click.option("--forget", is_flag=True,
              help="Erase the address and its delivery history instead of keeping it as "
                   "unsubscribed (a later import could then add it again).")
@click.pass_context
def remove(ctx: click.Context, email: str, forget: bool) -> None:
    """Stop mailing an address: it stays on the list as unsubscribed."""
    from .subscribers import remove as remove_subscriber

    click.echo(remove_subscriber(context_config(ctx), email, forget=forget))


@subscribers.command(name="list")
@click.option("--status", type=STATUS_CHOICE, help="Only subscribers with this status.")
@click.pass_context
def list_(ctx: click.Context, status: str | None) -> None:
    """Print the subscribers, one per line: email, status, name."""
    from .subscribers import iter_subscribers

    for subscriber in iter_subscribers(context_config(ctx), status):
        click.echo(f"{subscriber.email}\t{subscriber.status}\t{_shown(subscriber.name)}")


@subscribers.command()
@click.option("--status", type=STATUS_CHOICE, help="Only subscribers with this status.")
@click.pass_context
def export(ctx: click.Context, status: str | None) -> None:
    """Write the subscribers as CSV (email,name,status) to stdout, ready to import."""
    from .subscribers import export_csv

    export_csv(context_config(ctx), sys.stdout, status)


@click.command()
@click.option("--date", "date_text", required=True, metavar="YYYY-MM-DD",
              help="Issue date; seeds/issues/<date>.md is rendered once, in memory.")
@click.option("--transport", type=click.Choice(["outbox", "smtp"]),
              help="outbox: .eml files under outbox/<date>/sent/; smtp: a mail server "
                   "(default: delivery.transport in newsletter.toml).")
@click.option("--smtp-url", metavar="URL",
              help="smtp://user@host:port (STARTTLS when offered) or smtps://user@host:port; "
                   "the password comes from $NEWSLETTER_SMTP_PASSWORD.")
@click.option("--to", "to", metavar="ADDRESS", help="Send one test copy there; record nothing.")
@click.option("--dry-run", is_flag=True, help="List who would get it; send nothing.")
@click.option("--connections", type=click.IntRange(1, 64),
              help="Messages pushed at once (default: delivery.connections).")
@click.option("--rate", type=click.FloatRange(0), metavar="N",
              help="At most N messages per second; 0 for no limit (default: delivery.rate_limit).")
@click.pass_context
def send(ctx: click.Context, date_text: str, transport: str | None, smtp_url: str | None,
         to: str | None, dry_run: bool, connections: int | None, rate: float | None) -> None:
    """Send the issue to every active subscriber it has not reached yet.

    Each recipient is recorded in the ledger the moment the server accepts the message.
    Ctrl-C stops after the messages in flight; running the same command again resumes.
    """
    from . import delivery

    config, date = context_config(ctx), issue_date(date_text)
    if to:
        reply = delivery.send_test(config, date, to, transport=transport, smtp_url=smtp_url)
        click.echo(f"test copy sent to {to}: {reply}")
        return
    if dry_run:
        count = 0
        for email, name, problem in delivery.dry_run(config, date):
            line = f"{email}\t{_shown(name)}" if name else email
            click.echo(f"{line}\t(would fail: {problem})" if problem else line)
            count += 1
        click.echo(f"dry run: {count} subscriber(s) would get the {date_text} issue; "
                   "nothing sent", err=True)
        return
    report = delivery.send_issue(config, date, transport=transport, smtp_url=smtp_url,
                                 connections=connections, rate=rate, stream=sys.stderr)
    counts = report.counts
    rate_now = report.sent / report.elapsed if report.elapsed else 0.0
    click.echo(f"{date_text}: {report.sent} sent, {report.failed} failed, {report.bounced} "
               f"bounced, {report.skipped} skipped, {report.retries} retried, in "
               f"{report.elapsed:.1f} s ({rate_now:,.0f} msg/s)")
    if report.in_doubt:
        click.echo(f"{report.in_doubt} in doubt: in flight when the last run stopped, sent "
                   "again (each may have arrived twice)")
    click.echo(f"ledger: {counts['sent']} sent, {counts['pending']} pending, "
               f"{counts['failed']} failed, {counts['skipped']} skipped")
    if report.interrupted:
        click.echo("interrupted: run the same command again to resume", err=True)
        ctx.exit(130)


@click.command()
@click.option("--date", "date_text", required=True, metavar="YYYY-MM-DD", help="Issue date.")
@click.pass_context
def status(ctx: click.Context, date_text: str) -> None:
    """Show how far the issue's send got: sent, pending, in doubt, failed (with replies)."""
    from .delivery import issue_status

    report = issue_status(context_config(ctx), issue_date(date_text))
    counts = report.counts
    click.echo(f"{report.issue}: {counts['sent']} sent, "
               f"{counts['pending'] + counts['claimed']} pending, "
               f"{counts['sending']} sending (in doubt unless a send is running), "
               f"{counts['failed']} failed, {counts['skipped']} skipped")
    if report.in_doubt:
        click.echo(f"{len(report.in_doubt)} sent again after a stopped run "
                   "(may have arrived twice): " + ", ".join(report.in_doubt))
    for email, attempts, reply in report.failed:
        click.echo(f"failed  {email}  ({attempts} attempt(s)): {reply}")


@click.command()
@click.argument("token")
@click.pass_context
def unsubscribe(ctx: click.Context, token: str) -> None:
    """Apply an unsubscribe token (from a List-Unsubscribe link or POST)."""
    from .subscribers import unsubscribe as apply_token

    click.echo(apply_token(context_config(ctx), token))


def register_delivery_commands(group: click.Group) -> None:
    """Add `subscribers`, `send`, `status` and `unsubscribe` to the `newsletter` group."""
    for command in (subscribers, send, status, unsubscribe):
        group.add_command(command)
