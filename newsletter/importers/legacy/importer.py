"""Import legacy plain-text issues: one paper file per paper, one issue file, the raw archived.

Nothing is silently dropped and nothing invented: every line ends up in a paper or issue
file, and what is empty or could not be kept is reported as a warning with its line.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from newsletter.config import Config
from newsletter.content.documents import read_document
from newsletter.content.files import write_atomic, write_text_atomic
from newsletter.content.writers import issue_to_markdown, paper_to_markdown
from newsletter.diagnostics import Diagnostic
from newsletter.errors import ContentError, read_text
from newsletter.importers.legacy.parser import LegacyIssue, parse_legacy, unique_name


@dataclass
class ImportReport:
    """What `import_legacy` wrote, and what it could not keep."""

    papers: list[Path] = field(default_factory=list)
    issues: list[Path] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    archived: list[Path] = field(default_factory=list)


def import_legacy(paths: list[Path], config: Config) -> ImportReport:
    """Write paper and issue files for legacy issues and archive the originals.

    Everything is parsed and checked before anything is written, so a bad document
    writes nothing. Re-importing the same files rewrites the same bytes.
    """
    parsed: list[tuple[LegacyIssue, bytes]] = []
    for path in paths:
        text = read_text(path, ContentError)
        parsed.append((parse_legacy(text, path, config.venue_tracks), path.read_bytes()))
    parsed.sort(key=lambda item: (item[0].issue.date, item[0].source.name))
    _check_inputs([legacy for legacy, _ in parsed], config)

    owners, taken = _existing_papers(config.papers_dir)
    report = ImportReport()
    plan: list[tuple[Path, str | bytes]] = []
    for legacy, raw in parsed:
        slugs = []
        for paper in legacy.papers:
            slug = owners.get(paper.imported_from or "") or unique_name(paper.slug, taken)
            taken.add(slug)
            slugs.append(slug)
            path = config.papers_dir / f"{slug}.md"
            plan.append((path, paper_to_markdown(paper.model_copy(update={"slug": slug}))))
            report.papers.append(path)
        issue = legacy.issue.model_copy(update={"papers": slugs})
        issue_path = config.issue_path(issue.date)
        archive_path = config.archive_dir / legacy.source.name
        plan += [(archive_path, raw), (issue_path, issue_to_markdown(issue))]
        report.issues.append(issue_path)
        report.archived.append(archive_path)
        report.warnings += legacy.warnings
    for path, data in plan:
        if isinstance(data, str):
            write_text_atomic(path, data)
        elif not (path.is_file() and path.read_bytes() == data):  # the archive: byte-identical
            write_atomic(path, data)
    return report


def _check_inputs(parsed: list[LegacyIssue], config: Config) -> None:
    """Refuse what would overwrite another document's files, before writing anything."""
    dates: dict[dt.date, Path] = {}
    names: dict[str, Path] = {}
    for legacy in parsed:
        date, name = legacy.issue.date, legacy.source.name
        if date in dates or name in names:
            other = dates.get(date) or names[name]
            what = f"the same date {date.isoformat()}" if date in dates else "the same file name"
            raise ContentError(f"has {what} as {other}", path=legacy.source, line=1,
                               hint="import one of them, or rename it")
        dates[date] = names[name] = legacy.source
        issue_path = config.issue_path(date)
        if issue_path.exists() and _imported_from(issue_path) != name:
            raise ContentError(f"would overwrite {issue_path}, which was not imported from it",
                               path=legacy.source, line=1,
                               hint=f"move {issue_path.name} away first")


def _imported_from(path: Path) -> str | None:
    try:
        value = read_document(path).meta.get("imported_from")
    except ContentError:
        return None
    return value if isinstance(value, str) else None


def _existing_papers(papers_dir: Path) -> tuple[dict[str, str], set[str]]:
    """Slugs of imported papers by 'imported_from' (a re-import reuses them), and all slugs."""
    owners: dict[str, str] = {}
    taken: set[str] = set()
    for path in sorted(papers_dir.glob("*.md")):
        taken.add(path.stem)
        if source := _imported_from(path):
            owners.setdefault(source, path.stem)
    return owners, taken
