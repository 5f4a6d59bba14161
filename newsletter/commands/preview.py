"""`newsletter preview`: the issue as readers see it, re-rendered on every change.

This module is the preview's builder (MkDocs' shape: the server is given a `builder` callback
and the paths to watch) and the function the CLI calls.
"""

from __future__ import annotations

import datetime as dt
import threading
import webbrowser
from collections.abc import Callable
from email import message_from_bytes, policy
from functools import partial
from pathlib import Path

from newsletter.commands.compose import issue_for_date
from newsletter.commands.signals import sigterm_as_interrupt
from newsletter.config import find_config, load_config
from newsletter.content.readers import load_content
from newsletter.errors import NewsletterError
from newsletter.lint.runner import run_check
from newsletter.mail.archive import build_issue
from newsletter.preview.build import PreviewBuild
from newsletter.preview.server import PreviewServer, log_build


def _headers(eml: bytes) -> tuple[list[tuple[str, str]], list[str]]:
    message = message_from_bytes(eml, policy=policy.default)
    headers = [(name, str(value)) for name, value in message.items()]
    parts = [f"{part.get_content_type()}; charset={part.get_content_charset()}; "
             f"{part.get('Content-Transfer-Encoding', '7bit')}; "
             f"{len(part.get_payload(decode=True) or b''):,} B"
             for part in message.walk() if not part.is_multipart()]
    return headers, parts


def build_preview(config_path: Path | None, date: dt.date, *, with_check: bool = True,
                  now: dt.datetime | None = None) -> PreviewBuild:
    """Render the issue for `date` as `compose` would, without writing anything.

    Config and content are read afresh on every call: the preview calls this on each change.
    The headers shown are those of the archive copy, the message a (sample) reader gets.
    Raises NewsletterError (with file and line) for mistakes in config, content or templates.
    """
    now = now or dt.datetime.now(dt.UTC)
    config = load_config(config_path)
    content = load_content(config.resolve(config.content_dir), tracks=config.tracks)
    issue, selection = issue_for_date(content, date, config)
    built = build_issue(issue, content, config, now)
    headers, parts = _headers(built.files["issue.eml"])
    findings = run_check(config, date, now=now).findings if with_check else []
    return PreviewBuild(date, content.issue_paths.get(date, config.issue_path(date)),
                        selection is not None, built.files, built.rendered.subject,
                        [paper.title for paper in built.papers], headers, parts, findings)


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


def serve(config_path: Path | None, date: dt.date, *, echo: Callable[..., None],
          port: int = 8025, open_browser: bool = True) -> None:
    """Serve the preview until Ctrl-C (or SIGTERM); raises NewsletterError if the port is taken."""
    with open_preview(config_path, date, port, echo) as server:
        echo(f"Previewing {date.isoformat()} at {server.url} "
             "(watching content, templates and config; Ctrl-C stops)")
        if open_browser:
            webbrowser.open(server.url)
        try:
            with sigterm_as_interrupt():
                forever = threading.Event()
                while not forever.wait(3600):  # a timed wait stays interruptible by signals
                    pass
        except KeyboardInterrupt:
            echo("stopping the preview", err=True)
