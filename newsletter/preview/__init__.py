"""`newsletter preview`: the issue as readers see it, re-rendered on every change."""

from __future__ import annotations

import datetime as dt
import signal
import threading
import webbrowser
from collections.abc import Callable
from functools import partial
from pathlib import Path

import click

from ..config import find_config, load_config
from ..errors import NewsletterError
from .build import BuildError, PreviewBuild, build_preview, force_scheme
from .server import PreviewServer, PreviewState, log_build

__all__ = ["BuildError", "PreviewBuild", "PreviewServer", "PreviewState", "build_preview",
           "force_scheme", "open_preview", "serve"]


def watched_paths(config_path: Path | None) -> list[Path]:
    """Where a change re-renders the issue: content (papers, issues), templates, config."""
    try:
        config = load_config(config_path)
    except NewsletterError:  # the builder shows the error; the config file is still watched
        return [config_path] if config_path else []
    paths = [config.resolve(config.content_dir), config.templates_path]
    return paths + ([config_path] if config_path else [])


def open_preview(config_path: Path | None, date: dt.date, port: int = 8025,
                 echo: Callable[..., None] | None = None) -> PreviewServer:
    """A preview server, bound and built once; serving starts when used as a context manager.

    Port 0 picks a free port (see `.url`).
    """
    config_path = config_path or find_config()
    on_build = log_build(echo) if echo else None
    return PreviewServer(partial(build_preview, config_path, date), date.isoformat(),
                         partial(watched_paths, config_path), port=port, on_build=on_build)


def serve(config_path: Path | None, date: dt.date, *, port: int = 8025,
          open_browser: bool = True, echo: Callable[..., None] = click.echo) -> None:
    """Serve the preview until Ctrl-C (or SIGTERM); raises NewsletterError if the port is taken."""
    with open_preview(config_path, date, port, echo) as server:
        echo(f"Previewing {date.isoformat()} at {server.url} "
             "(watching content, templates and config; Ctrl-C stops)")
        if open_browser:
            webbrowser.open(server.url)
        try:
            _wait_for_interrupt()
        except KeyboardInterrupt:
            echo("stopping the preview", err=True)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _wait_for_interrupt() -> None:
    """Block until Ctrl-C; SIGTERM (a process manager's stop) counts as Ctrl-C too."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    forever = threading.Event()
    try:
        while not forever.wait(3600):  # a timed wait stays interruptible by signals
            pass
    finally:
        signal.signal(signal.SIGTERM, previous)
