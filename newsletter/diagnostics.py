"""Findings about content: warnings from loading and importing, errors from `check`.

Shared by the readers (content), the importers, `check` (lint) and the preview page.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from newsletter.errors import NewsletterError, display_path

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Diagnostic:
    severity: Severity
    path: Path | None
    line: int | None
    message: str
    hint: str = ""
    code: str = ""

    @classmethod
    def from_error(cls, exc: NewsletterError, code: str) -> Diagnostic:
        """The finding, under `code`, for an error that stopped a file or a render."""
        return cls("error", exc.path, exc.line, exc.detail, exc.hint or "", code)

    @property
    def where(self) -> str:
        if self.path is None:
            return "-"
        return f"{display_path(self.path)}:{self.line}" if self.line else display_path(self.path)

    def one_line(self) -> str:
        text = f"{self.severity}: {self.where}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = display_path(self.path) if self.path else None
        return data
