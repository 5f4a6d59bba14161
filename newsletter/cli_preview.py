"""Commands `preview` and `check`: parse options, call one core function, print its result.

Imports of the pipeline stay inside the functions so `newsletter --help` stays fast.
"""

from __future__ import annotations

import click

from .cli import context_config, issue_date


@click.command()
@click.option("--date", "date_text", required=True, metavar="YYYY-MM-DD",
              help="Issue date. An existing issue file is shown; otherwise the draft compose "
                   "would write.")
@click.option("--port", type=click.IntRange(0, 65535), default=8025, show_default=True,
              help="Port on 127.0.0.1; 0 picks a free one.")
@click.option("--no-open", is_flag=True, help="Do not open a web browser.")
@click.pass_context
def preview(ctx: click.Context, date_text: str, port: int, no_open: bool) -> None:
    """Serve the issue on 127.0.0.1 as readers see it; re-render and reload on every change."""
    from .preview import serve

    serve(ctx.obj.get("config_path"), issue_date(date_text), port=port, open_browser=not no_open,
          echo=click.echo)


@click.command()
@click.option("--date", "date_text", metavar="YYYY-MM-DD",
              help="Check only this issue (or the draft compose would write) and its papers.")
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Findings as text lines or as JSON.")
@click.pass_context
def check(ctx: click.Context, date_text: str | None, output: str) -> None:
    """Lint content and the rendered email; exit 1 on any error finding.

    Exit 2 means the check could not run: a bad option or date, a broken newsletter.toml,
    no content folder, or a date with no issue file and no eligible paper.
    """
    from .check import format_json, format_text, run_check

    date = issue_date(date_text) if date_text else None
    report = run_check(context_config(ctx), date)
    click.echo(format_json(report) if output == "json" else format_text(report))
    ctx.exit(report.exit_code)


def register_preview_commands(group: click.Group) -> None:
    """Add `preview` and `check` to the `newsletter` command group."""
    group.add_command(preview)
    group.add_command(check)
