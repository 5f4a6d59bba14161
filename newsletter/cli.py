"""Command line: parse options, load config, call one core function, print a summary."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import click

from . import __version__

DEBUG = {"on": False}

# Commands of later stages live in their own modules, each with a function that registers
# them. They are imported only when one of them runs or the command list is needed (help,
# completion), so `compose` does not load the delivery and preview command modules.
LATER_COMMANDS = {
    "preview": "cli_preview", "check": "cli_preview",
    "subscribers": "cli_delivery", "send": "cli_delivery", "status": "cli_delivery",
    "unsubscribe": "cli_delivery",
}
_REGISTER = {"cli_preview": "register_preview_commands",
             "cli_delivery": "register_delivery_commands"}


class Group(click.Group):
    """Turns our errors into one line with exit code 2; --debug shows the traceback."""

    def load_later_commands(self, name: str | None = None) -> None:
        """Register the later-stage commands: those of the module that defines `name`, or all."""
        modules = {module for command, module in LATER_COMMANDS.items()
                   if name in (None, command) and command not in self.commands}
        for module_name in sorted(modules):
            module = importlib.import_module(f"{__package__}.{module_name}")
            getattr(module, _REGISTER[module_name])(self)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            # An unknown name loads every module, so "no such command" lists all of them.
            self.load_later_commands(cmd_name if cmd_name in LATER_COMMANDS else None)
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self.load_later_commands()
        return super().list_commands(ctx)

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        from .errors import NewsletterError

        try:
            return super().invoke(ctx)
        except NewsletterError as exc:
            if DEBUG["on"]:
                raise
            click.echo(f"error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)


def context_config(ctx: click.Context):
    """The Config of this run: --config, or newsletter.toml found from here upward."""
    from .config import load_config

    return load_config(ctx.obj.get("config_path"))


def issue_date(text: str):
    """--date as a date; an impossible one is a one-line error (exit 2)."""
    from .compose import parse_issue_date

    return parse_issue_date(text)


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
    from .publish import compose_issue

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
    sizes = result.built.files
    click.echo(f"wrote {result.folder}/ (issue.html {len(sizes['issue.html']):,} B, "
               f"issue.txt {len(sizes['issue.txt']):,} B, issue.eml {len(sizes['issue.eml']):,} B)")


@cli.command()
@click.pass_context
def papers(ctx: click.Context) -> None:
    """List the paper pool: slug, track, published, and the issue that featured it."""
    from .publish import paper_table

    rows = paper_table(context_config(ctx))
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

    report = import_legacy(list(files), context_config(ctx))
    for warning in report.warnings:
        click.echo(warning.one_line(), err=True)
    click.echo(f"imported {len(report.issues)} issue(s) and {len(report.papers)} paper(s); "
               f"{len(report.warnings)} warning(s)")


def main() -> None:
    cli(prog_name="newsletter")
