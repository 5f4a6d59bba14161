"""The `check` command: lint content and the rendered email."""

from __future__ import annotations

import click

from newsletter.cli.context import context_config, issue_date


@click.command()
@click.option("--date", "date_text", metavar="YYYY-MM-DD",
              help="Check only this issue (or the draft compose would write) and its papers.")
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Findings as text lines or as JSON.")
@click.option("--online", is_flag=True,
              help="Also ask arXiv whether each arXiv identifier exists (offline by default).")
@click.pass_context
def check(ctx: click.Context, date_text: str | None, output: str, online: bool) -> None:
    """Lint content and the rendered email; exit 1 on any error finding.

    Exit 2 means the check could not run: a bad option or date, a broken newsletter.toml,
    no content folder, a date with no issue file and no eligible paper, or (--online) arXiv
    could not be asked.
    """
    from newsletter.commands.check import check as run_check
    from newsletter.lint.report import format_json, format_text

    date = issue_date(date_text) if date_text else None
    report = run_check(context_config(ctx), date, online=online)
    click.echo(format_json(report) if output == "json" else format_text(report))
    ctx.exit(report.exit_code)
