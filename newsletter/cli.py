"""Command line: parse options, load config, call one core function, print a summary."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import __version__

DEBUG = {"on": False}


class Group(click.Group):
    """Turns our errors into one line with exit code 2; --debug shows the traceback."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        from .errors import NewsletterError

        try:
            return super().invoke(ctx)
        except NewsletterError as exc:
            if DEBUG["on"]:
                raise
            click.echo(f"error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)


def _config(ctx: click.Context):
    from .config import load_config

    return load_config(ctx.obj.get("config_path"))


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="newsletter")
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              help="newsletter.toml to use (default: found from the current folder upward).")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, debug: bool) -> None:
    """Publish the Research Update: paper files in, a responsive email out."""
    DEBUG["on"] = debug
    ctx.ensure_object(dict)["config_path"] = config_path


@cli.command()
@click.option("--date", "date_text", required=True, metavar="YYYY-MM-DD",
              help="Issue date. An existing issue file is rendered; otherwise one is drafted.")
@click.option("--dry-run", is_flag=True, help="Show each pick and rejection; write nothing.")
@click.pass_context
def compose(ctx: click.Context, date_text: str, dry_run: bool) -> None:
    """Render the issue for a date into outbox/<date>/ (HTML, text, .eml, .json)."""
    from .compose import parse_issue_date
    from .publish import compose_issue

    date = parse_issue_date(date_text)
    result = compose_issue(_config(ctx), date, dry_run=dry_run)
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
    sizes = result.built.files
    click.echo(f"wrote {result.folder}/ (issue.html {len(sizes['issue.html']):,} B, "
               f"issue.txt {len(sizes['issue.txt']):,} B, issue.eml {len(sizes['issue.eml']):,} B)")


@cli.command()
@click.pass_context
def papers(ctx: click.Context) -> None:
    """List the paper pool: slug, track, published, and the issue that featured it."""
    from .publish import paper_table

    rows = paper_table(_config(ctx))
    widths = [max([len(row[i]) for row in rows] + [len(h)])
              for i, h in enumerate(("SLUG", "TRACK", "PUBLISHED", "FEATURED"))]
    for row in [("SLUG", "TRACK", "PUBLISHED", "FEATURED"), *rows]:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        click.echo("  ".join(cells).rstrip())


@cli.command(name="import")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def import_(ctx: click.Context, files: tuple[Path, ...]) -> None:
    """Turn legacy plain-text issues into paper and issue files (originals kept in archive/)."""
    from .legacy import import_legacy

    report = import_legacy(list(files), _config(ctx))
    for warning in report.warnings:
        click.echo(warning.one_line(), err=True)
    click.echo(f"imported {len(report.issues)} issue(s) and {len(report.papers)} paper(s); "
               f"{len(report.warnings)} warning(s)")


def main() -> None:
    cli(prog_name="newsletter")


# Commands of later stages live in their own modules; each registers itself here.
from .cli_preview import register_preview_commands  # noqa: E402

register_preview_commands(cli)

from .cli_delivery import register_delivery_commands  # noqa: E402

register_delivery_commands(cli)
