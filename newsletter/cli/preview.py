"""The `preview` command: the issue in a browser, reloading on every edit."""

from __future__ import annotations

import click

from newsletter.cli.context import config_path, issue_date


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
    from newsletter.commands.preview import serve

    serve(config_path(ctx), issue_date(date_text), port=port, open_browser=not no_open,
          echo=click.echo)
