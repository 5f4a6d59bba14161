"""User-facing errors: one line, exit code 2, no traceback (unless --debug)."""

from __future__ import annotations

from pathlib import Path

import click


class NewsletterError(click.ClickException):
    """A mistake the user can fix. Shown as one line on stderr, exit code 2."""

    exit_code = 2

    def __init__(self, message: str, *, path: Path | str | None = None,
                 line: int | None = None, hint: str | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.line = line
        self.hint = hint
        self.detail = message
        super().__init__(self._one_line())

    def _one_line(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{display_path(self.path)}:{self.line}: " if self.line else \
                f"{display_path(self.path)}: "
        text = f"{where}{self.detail}"
        if self.hint:
            text += f" ({self.hint})"
        return " ".join(text.split())

    def format_message(self) -> str:
        return self.message


class ConfigError(NewsletterError):
    """newsletter.toml is missing a value or has a wrong one."""


class ContentError(NewsletterError):
    """A paper or issue file cannot be read or is invalid."""


class ComposeError(NewsletterError):
    """Selection cannot produce an issue (no eligible paper, bad date...)."""


class RenderError(NewsletterError):
    """A template is broken."""


class DeliveryError(NewsletterError):
    """Subscribers, transports or the send ledger refuse an operation."""


def display_path(path: Path) -> str:
    """Path relative to the working directory when possible: shorter, clickable."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
