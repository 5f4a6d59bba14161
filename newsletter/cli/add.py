"""The `add` command: a paper file from its arXiv identifier or DOI."""

from __future__ import annotations

import click

from newsletter.cli.context import context_config


@click.command()
@click.argument("reference", metavar="ID")
@click.option("--track", help="Track of the paper (default: from [arxiv_tracks] or the venue).")
@click.option("--slug", help="File name without .md (default: from the title).")
@click.pass_context
def add(ctx: click.Context, reference: str, track: str | None, slug: str | None) -> None:
    """Write papers/<slug>.md from the metadata of ID.

    ID is arxiv:2404.02258, an arxiv.org link, doi:10.1145/3600006.3613165 or a doi.org link.
    Its Key Finding, Why It Matters and takeaway are left as TODO lines for you to write:
    `newsletter check` reports them, and compose does not pick the paper, until you do.
    """
    from newsletter.commands.add import add_paper
    from newsletter.errors import display_path

    result = add_paper(context_config(ctx), reference, track=track, slug=slug)
    paper = result.paper
    click.echo(f"wrote {display_path(result.path)}: '{paper.title}' ({paper.published.iso()}, "
               f"track {paper.track} from {result.track_from})")
    click.echo("next: write its Key Finding, Why It Matters and takeaway (the TODO lines)")
