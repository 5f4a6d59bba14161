"""What every command needs from the command line: the run's config, --date, safe output."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from newsletter.config import Config


def config_path(ctx: click.Context) -> Path | None:
    path: Path | None = ctx.find_root().obj.get("config_path")
    return path


def context_config(ctx: click.Context) -> Config:
    """The Config of this run: --config, or newsletter.toml found from here upward."""
    from newsletter.config import load_config

    return load_config(config_path(ctx))


def issue_date(text: str) -> dt.date:
    """--date as a date; an impossible one is a one-line error (exit 2)."""
    from newsletter.content.models import parse_issue_date

    return parse_issue_date(text)


def shown(text: str) -> str:
    """A stored value as one safe line: control characters as escapes (\\r, \\n)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
