"""The web commands: `serve` (the app with uvicorn) and `site build` (static files)."""

from __future__ import annotations

from pathlib import Path

import click

from newsletter.cli.context import context_config


@click.command()
@click.option("--host", default=None, metavar="ADDRESS",
              help="Address to listen on (default: web.host, 127.0.0.1). Another one only "
                   "behind a reverse proxy, or on purpose.")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port (default: web.port, 8080; 0 picks a free one).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve one-click unsubscribe, subscribing, the archive and its feed (Ctrl-C stops)."""
    from newsletter.commands.serve import serve as run

    run(context_config(ctx), host=host, port=port, echo=lambda line: click.echo(line, err=True))


@click.group()
def site() -> None:
    """The archive as a static site, for hosting without a server."""


@site.command()
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.pass_context
def build(ctx: click.Context, out: Path) -> None:
    """Write the archive (index.html, issues/<date>/, feed.xml) into OUT."""
    from newsletter.commands.site import build as build_site

    click.echo(build_site(context_config(ctx), out))
