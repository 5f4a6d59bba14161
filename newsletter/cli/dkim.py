"""`newsletter dkim keygen|records`: DKIM keys and the DNS records that publish them."""

from __future__ import annotations

import click

from newsletter.cli.context import context_config

ALGORITHM_CHOICE = click.Choice(["rsa-sha256", "ed25519-sha256"])


@click.group()
def dkim() -> None:
    """DKIM signing keys: make them, show the DNS records to publish."""


@dkim.command()
@click.option("--selector", required=True, metavar="S",
              help="The DKIM selector, e.g. 2025-11: the records go at S._domainkey.DOMAIN.")
@click.option("--algorithm", "algorithms", type=ALGORITHM_CHOICE, multiple=True,
              help="Make only this key (repeatable; default: both rsa-sha256, 2048 bits, "
                   "and ed25519-sha256).")
@click.pass_context
def keygen(ctx: click.Context, selector: str, algorithms: tuple[str, ...]) -> None:
    """Make new signing keys (mode 0600) where sending looks for them, and print the DNS TXT
    records to publish. From then on every message is signed for the From domain.

    An existing key is never replaced: a new key needs a new selector.
    """
    from newsletter.commands.dkim import keygen as make_keys
    from newsletter.errors import display_path
    from newsletter.mail.dkim_settings import ALGORITHMS

    chosen = [a for a in ALGORITHMS if a in algorithms] if algorithms else list(ALGORITHMS)
    report = make_keys(context_config(ctx), selector, chosen)
    for path in report.written:
        click.echo(f"wrote {display_path(path)} (mode 0600: keep it secret, keep a backup)")
    click.echo(f"\nPublish in the DNS zone of {report.domain}, then send:")
    for record in report.records:
        click.echo(record)
    for note in report.notes:
        click.echo(f"\nnote: {note}")


@dkim.command()
@click.pass_context
def records(ctx: click.Context) -> None:
    """Print the DNS TXT records of the keys messages are signed with."""
    from newsletter.commands.dkim import records as txt_records

    found = txt_records(context_config(ctx))
    if not found:
        click.echo("DKIM signing is off: no key (run `newsletter dkim keygen --selector S`)",
                   err=True)
    for record in found:
        click.echo(record)
