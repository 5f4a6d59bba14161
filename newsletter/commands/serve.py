"""`newsletter serve`: the web app (unsubscribe, subscribe, archive, feed) with uvicorn."""

from __future__ import annotations

from collections.abc import Callable

from newsletter.config import Config
from newsletter.web.settings import web_settings


def serve(config: Config, *, host: str | None = None, port: int | None = None,
          echo: Callable[[str], None] | None = None) -> None:
    """Serve the web app until Ctrl-C or SIGTERM; a port in use is a one-line error."""
    from newsletter.web.application import create_app
    from newsletter.web.server import run

    settings = web_settings(config)
    try:
        run(create_app(config), settings, host or settings.host,
            settings.port if port is None else port, echo)
    except KeyboardInterrupt:  # uvicorn has stopped gracefully, then re-raised the signal
        if echo:
            echo("stopped")
