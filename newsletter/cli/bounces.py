"""`newsletter bounces`: read the bounce mailbox, apply bounces and complaints to the list."""

from __future__ import annotations

from pathlib import Path

import click

from newsletter.cli.context import context_config, shown


@click.command()
@click.option("--maildir", type=click.Path(path_type=Path, file_okay=False), metavar="DIR",
              help="A local Maildir (with cur/ and new/) that returned mail is delivered to.")
@click.option("--imap", "imap_url", metavar="URL",
              help="imaps://user@host:993/FOLDER (or imap:// with STARTTLS); the password "
                   "comes from $NEWSLETTER_IMAP_PASSWORD (default: bounces.imap_url).")
@click.pass_context
def bounces(ctx: click.Context, maildir: Path | None, imap_url: str | None) -> None:
    """Apply the bounces and complaints waiting in the bounce mailbox to the list.

    A hard bounce marks the reader bounced, soft bounces of bounces.soft_limit issues in a
    row do too, and a complaint (a "this is spam" report) unsubscribes them. Each message
    processed is moved out of the way (a Maildir's .processed/, an IMAP folder), so running
    it again changes nothing; one that is not a bounce or complaint, or names none of our
    readers, is left in place and listed.
    """
    from newsletter.commands.bounces import open_mailbox, process_bounces

    config = context_config(ctx)
    box = open_mailbox(config, maildir=maildir, imap_url=imap_url)
    try:
        run = process_bounces(config, box)
    finally:
        box.close()
    for where, why in run.left:
        click.echo(f"left in place: {shown(where)}: {why}", err=True)
    for address in run.bounced:
        click.echo(f"bounced       {shown(address)}")
    for address in run.unsubscribed:
        click.echo(f"unsubscribed  {shown(address)}")
    click.echo(f"{shown(run.mailbox)}: {run.processed} processed ({run.hard} hard bounce(s), "
               f"{run.soft} soft, {run.complaints} complaint(s), {run.delayed} delay "
               f"notice(s), {run.already} seen before); {len(run.bounced)} marked bounced, "
               f"{len(run.unsubscribed)} unsubscribed; {len(run.left)} left in place")
