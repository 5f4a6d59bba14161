"""`newsletter check`: every finding about the content and the rendered email."""

from __future__ import annotations

import datetime as dt

from newsletter.config import Config
from newsletter.lint.report import CheckReport
from newsletter.lint.runner import run_check


def check(config: Config, date: dt.date | None = None, *, online: bool = False) -> CheckReport:
    """All content and every issue, or (with `date`) that issue and its papers.

    `online` also asks arXiv whether the arXiv identifiers of those files exist.
    """
    return run_check(config, date, online=online)
