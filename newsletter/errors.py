"""Domain errors: mistakes a user can fix. They know nothing of the command line.

Each carries the file and line it is about, a hint saying what to do, and a `code` for callers
that must tell errors apart (never their message text). The CLI prints `one_line()` on stderr
and exits with code 2; anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


class NewsletterError(Exception):
    """A mistake the user can fix. Shown as one line on stderr, exit code 2."""

    exit_code = 2

    def __init__(self, message: str, *, path: Path | str | None = None,
                 line: int | None = None, hint: str | None = None, code: str = "") -> None:
        self.path = Path(path) if path is not None else None
        self.line = line
        self.hint = hint
        self.detail = message
        self.code = code
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """'file:line: what is wrong (what to do)', whitespace folded into one line."""
        where = ""
        if self.path is not None:
            where = f"{display_path(self.path)}:{self.line}: " if self.line else \
                f"{display_path(self.path)}: "
        text = f"{where}{self.detail}"
        if self.hint:
            text += f" ({self.hint})"
        return " ".join(text.split())


class UsageError(NewsletterError):
    """A command-line value is wrong (a date, a URL)."""


class ConfigError(NewsletterError):
    """newsletter.toml is missing a value or has a wrong one."""


class ContentError(NewsletterError):
    """A paper or issue file cannot be read or is invalid."""


class ComposeError(NewsletterError):
    """Selection cannot produce an issue (no eligible paper, bad date...)."""


class RenderError(NewsletterError):
    """A template is broken."""


class OutputError(NewsletterError):
    """A file or folder cannot be written (a full disk, a read-only folder, a file in the way)."""


class DeliveryError(NewsletterError):
    """Subscribers, transports or the send ledger refuse an operation."""


class PendingError(DeliveryError):
    """A send stopped with readers still pending (the server is unreachable): run it again.

    Its own exit code lets a CI job tell "retry later" from a mistake to fix (exit 2).
    """

    exit_code = 75  # EX_TEMPFAIL


def display_path(path: Path) -> str:
    """Path relative to the working directory when possible: shorter, clickable."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop (Python 3.11)
        return str(path)


def field_problem(error: Mapping[str, Any]) -> tuple[str, str]:
    """('links.arXiv', what is wrong) from one entry of a pydantic ValidationError.errors()."""
    dotted = ".".join(str(part) for part in error["loc"])
    return dotted, str(error["msg"]).removeprefix("Value error, ")


def read_text(path: Path, error: type[NewsletterError]) -> str:
    """A UTF-8 text file (a byte order mark is dropped), or `error` naming the file."""
    try:
        return path.read_bytes().decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise error("is not UTF-8 text", path=path, hint="save it as UTF-8") from exc
    except IsADirectoryError as exc:
        raise error("is a folder, not a file", path=path) from exc
    except OSError as exc:
        raise error(f"cannot be read: {exc.strerror}", path=path) from exc
