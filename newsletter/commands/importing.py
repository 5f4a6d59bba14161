"""`newsletter import`: legacy plain-text issues into paper and issue files."""

from __future__ import annotations

from pathlib import Path

from newsletter.config import Config
from newsletter.importers.legacy.importer import ImportReport
from newsletter.importers.legacy.importer import import_legacy as _import_legacy


def import_legacy(config: Config, paths: list[Path]) -> ImportReport:
    """Parse every file first, then write: a bad document writes nothing."""
    return _import_legacy(paths, config)
