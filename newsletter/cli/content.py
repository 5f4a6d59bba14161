"""Commands on content: `compose`, `papers` and `import`."""

from __future__ import annotations

from pathlib import Path

import click

from newsletter.cli.context import context_config, issue_date


@click.command()
@click.option("--date", "date_text", required=True, metavar="YYYY-MM-DD",
              help="Issue date. An existing issue file is rendered; otherwise one is drafted.")
@click.option("--dry-run", is_flag=True, help="Show each pick and rejection; write nothing.")
@click.pass_context
def compose(ctx: click.Context, date_text: str, dry_run: bool) -> None:
    """Render the issue for a date into outbox/<date>/ (HTML, text, .eml, .json)."""
    from newsletter.commands.compose import compose_issue

    result = compose_issue(context_config(ctx), issue_date(date_text), dry_run=dry_run)
    for warning in result.warnings:
        click.echo(warning.one_line(), err=True)
    if result.selection:
        for paper, why in result.selection.picks:
            click.echo(f"pick    {paper.slug}  ({paper.track}, {why})")
        if dry_run:
            for rejection in result.selection.rejections:
                click.echo(f"reject  {rejection.slug}  ({rejection.reason})")
    if dry_run:
        existing = "renders the existing issue" if not result.drafted else "would draft"
        click.echo(f"dry run: {existing} {result.issue_path}; nothing written")
        return
    if result.drafted:
        click.echo(f"drafted {result.issue_path}")
    assert result.built is not None
    sizes = result.built.files
    click.echo(f"wrote {result.folder}/ (issue.html {len(sizes['issue.html']):,} B, "
               f"issue.txt {len(sizes['issue.txt']):,} B, issue.eml {len(sizes['issue.eml']):,} B)")


@click.command()
@click.pass_context
def papers(ctx: click.Context) -> None:
    """List the paper pool: slug, track, published, and the issue that featured it."""
    from newsletter.commands.compose import paper_table

    rows = paper_table(context_config(ctx))
    heading = ("SLUG", "TRACK", "PUBLISHED", "FEATURED")
    widths = [max([len(row[i]) for row in rows] + [len(h)]) for i, h in enumerate(heading)]
    for row in [heading, *rows]:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        click.echo("  ".join(cells).rstrip())


@click.command(name="import")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def import_(ctx: click.Context, files: tuple[Path, ...]) -> None:
    """Turn legacy plain-text issues into paper and issue files (originals kept in archive/)."""
    from newsletter.commands.importing import import_legacy

    report = import_legacy(context_config(ctx), list(files))
    for warning in report.warnings:
        click.echo(warning.one_line(), err=True)
    click.echo(f"imported {len(report.issues)} issue(s) and {len(report.papers)} paper(s); "
               f"{len(report.warnings)} warning(s)")
