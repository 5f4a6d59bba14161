"""`newsletter check`: lint every paper and issue file, render the issues, report all findings.

Unlike `compose`, which stops at the first invalid file, this reads each file on its own and
turns each problem into a finding, so the editor sees everything at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from newsletter.compose.drafting import draft_for_date
from newsletter.compose.selection import featured_before
from newsletter.config import Config
from newsletter.content.documents import Document, read_document
from newsletter.content.models import REQUIRED_PAPER_SECTIONS, Issue, Paper
from newsletter.content.readers import Content, parse_issue, parse_paper, require_content_folder
from newsletter.diagnostics import Diagnostic
from newsletter.errors import ContentError, NewsletterError, display_path
from newsletter.lint.body_rules import markdown_rules
from newsletter.lint.dkim_rules import dkim_findings
from newsletter.lint.duplicates import PaperEntry, duplicate_rules
from newsletter.lint.email_rules import Locator, email_rules
from newsletter.lint.front_matter_rules import front_matter_rules
from newsletter.lint.links import LINK_CODES
from newsletter.lint.render_rules import render_rules
from newsletter.lint.report import CheckReport
from newsletter.mail.archive import build_issue
from newsletter.render.issue import HTML_TEMPLATE, TEXT_TEMPLATE


@dataclass
class _Loaded:
    doc: Document | None
    model: Paper | Issue | None


# Parse errors that a finer rule reports already, with a better line: code -> rule codes.
_COVERED_BY = {"required-section": frozenset({"required-section"}), "field-links": LINK_CODES}


def _load(paths: list[Path], parse: Callable[[Document], Paper | Issue],
          rules: Callable[[Document], list[Diagnostic]]) -> tuple[dict[Path, _Loaded],
                                                                   list[Diagnostic]]:
    """Each file read and parsed on its own: what loaded, and every finding on the way."""
    loaded: dict[Path, _Loaded] = {}
    findings: list[Diagnostic] = []
    for path in paths:
        try:
            doc = read_document(path)
        except ContentError as exc:
            findings.append(Diagnostic.from_error(exc, "invalid-file"))
            loaded[path] = _Loaded(None, None)
            continue
        found = rules(doc)
        model: Paper | Issue | None = None
        try:
            model = parse(doc)
        except ContentError as exc:
            covering = _COVERED_BY.get(exc.code, frozenset())
            if not any(f.code in covering for f in found):
                found.append(Diagnostic.from_error(exc, "invalid-file"))
        findings += found
        loaded[path] = _Loaded(doc, model)
    return loaded, findings


def _paper_entries(papers: dict[Path, _Loaded], featured: dict[str, str]) -> list[PaperEntry]:
    entries = []
    for path, item in papers.items():
        if item.doc is None:
            continue
        meta = item.doc.meta
        title, venue, links = meta.get("title"), meta.get("venue"), meta.get("links")
        if not isinstance(title, str) or not isinstance(venue, str):
            continue
        urls = tuple(str(u) for u in links.values()) if isinstance(links, dict) else ()
        entries.append(PaperEntry(path.stem, path, title.strip(), venue.strip(), urls,
                                  item.doc.line_of("title"), featured.get(path.stem)))
    return entries


def _issue_slugs(item: _Loaded) -> list[str]:
    if isinstance(item.model, Issue):
        return item.model.papers
    papers = item.doc.meta.get("papers") if item.doc else None
    return [s for s in papers if isinstance(s, str)] if isinstance(papers, list) else []


@dataclass
class _Files:
    """Every paper and issue file, each loaded on its own, and the findings of the file rules."""

    papers: dict[Path, _Loaded]
    issues: dict[Path, _Loaded]
    findings: list[Diagnostic]

    @classmethod
    def load(cls, config: Config) -> _Files:
        paper_paths = sorted(config.papers_dir.glob("*.md"))
        papers, findings = _load(paper_paths, parse_paper,
                                 lambda doc: markdown_rules(doc, REQUIRED_PAPER_SECTIONS)
                                 + front_matter_rules(doc, tracks=config.tracks)
                                 + render_rules(doc))
        known = {path.stem for path in paper_paths}
        issues, more = _load(sorted(config.issues_dir.glob("*.md")), parse_issue,
                             lambda doc: markdown_rules(doc)
                             + front_matter_rules(doc, known_papers=known)
                             + render_rules(doc))
        return cls(papers, issues, findings + more)

    def pool(self) -> Content:
        """The valid papers and issues, as compose would see them."""
        papers = {path.stem: item.model for path, item in self.papers.items()
                  if isinstance(item.model, Paper)}
        issues = {item.model.date: item.model for item in self.issues.values()
                  if isinstance(item.model, Issue)}
        issue_paths = {item.model.date: path for path, item in self.issues.items()
                       if isinstance(item.model, Issue)}
        return Content(papers, issues, {p.stem: p for p in self.papers}, issue_paths)

    def duplicate_findings(self, pool: Content) -> list[Diagnostic]:
        featured = {slug: day.isoformat() for slug, day in featured_before(pool.issues).items()}
        return duplicate_rules(_paper_entries(self.papers, featured))


def run_check(config: Config, date: dt.date | None = None, *,
              now: dt.datetime | None = None, online: bool = False) -> CheckReport:
    """Check all content and render every issue, or only the issue for `date` and its papers.

    `online` also asks arXiv whether each well-formed arXiv identifier exists (lint/online.py).
    Raises ContentError when there is no content folder (or it has no papers/) and
    ComposeError when `date` has no issue file and no eligible paper to draft one from;
    with `online`, SourceError when arXiv cannot be asked: nothing could be checked then.
    """
    now = now or dt.datetime.now(dt.UTC)
    require_content_folder(config.resolve(config.content_dir))
    files = _Files.load(config)
    pool = files.pool()
    findings = files.findings + files.duplicate_findings(pool) + dkim_findings(config)
    if date is None:
        to_render, scope = [pool.issues[d] for d in sorted(pool.issues)], None
        report = CheckReport([], len(files.papers), len(files.issues))
    else:
        to_render, scope = _scope(config, date, files.issues, pool)
        report = CheckReport([], len(scope) - 1, 1)
    for path, item in files.issues.items():
        if item.model is None and (date is None or path.stem == date.isoformat()):
            report.not_rendered[path.stem] = "the issue file is invalid"
    for issue in to_render:
        findings += _render_findings(issue, pool, config, now, report)
    if online:
        findings += _online_findings(files, scope, config)
    if scope is not None:
        content_dir = config.resolve(config.content_dir).resolve()
        findings = [f for f in findings if _in_scope(f, scope, content_dir)]
    report.findings = _sorted_unique(findings)
    return report


def _online_findings(files: _Files, scope: set[Path] | None, config: Config) -> list[Diagnostic]:
    from newsletter.lint.online import online_findings

    loaded = [*files.papers.items(), *files.issues.items()]
    return online_findings([item.doc for path, item in loaded if item.doc is not None
                            and (scope is None or path.resolve() in scope)], config)


def _in_scope(finding: Diagnostic, scope: set[Path], content_dir: Path) -> bool:
    """Whether a finding belongs to the date checked: all but those about other content files.

    A template or newsletter.toml (or no file at all) is part of every date's issue.
    """
    if finding.path is None:
        return True
    path = finding.path.resolve()
    return path in scope or not path.is_relative_to(content_dir)


def _sorted_unique(findings: list[Diagnostic]) -> list[Diagnostic]:
    unique = {(f.path and display_path(f.path), f.line, f.code, f.message): f for f in findings}
    return sorted(unique.values(), key=lambda f: (
        display_path(f.path) if f.path else "", f.line or 0, f.code, f.message))


def _scope(config: Config, date: dt.date, issues: dict[Path, _Loaded],
           pool: Content) -> tuple[list[Issue], set[Path]]:
    """The issue for `date` (or the draft compose would write) and the files it is made of."""
    path = config.issue_path(date)
    item = issues.get(path)
    if item is None:
        issue, _ = draft_for_date(pool.papers, pool.issues, date, config)
        slugs, to_render = issue.papers, [issue]
    else:
        slugs = _issue_slugs(item)
        to_render = [item.model] if isinstance(item.model, Issue) else []
    scope = {path.resolve(), *((config.papers_dir / f"{s}.md").resolve() for s in slugs)}
    return to_render, scope


def _render_findings(issue: Issue, pool: Content, config: Config, now: dt.datetime,
                     report: CheckReport) -> list[Diagnostic]:
    name = issue.date.isoformat()
    invalid = [slug for slug in issue.papers if slug not in pool.papers]
    if invalid:
        report.not_rendered[name] = f"paper '{invalid[0]}' is missing or invalid"
        return []
    try:
        built = build_issue(issue, pool, config, now)
    except NewsletterError as exc:
        report.not_rendered[name] = "it does not render"
        return [Diagnostic.from_error(exc, "render-error")]
    report.rendered.append(name)
    issue_path = pool.issue_paths.get(issue.date, config.issue_path(issue.date))
    sources = Locator([issue_path, *(pool.paper_paths[s] for s in issue.papers)])
    templates = config.templates_path
    rest = Locator([templates / HTML_TEMPLATE, templates / TEXT_TEMPLATE, config.config_path])
    html = built.files["issue.html"]
    return email_rules(built.rendered.html, built.files["issue.txt"].decode(), len(html),
                       issue_path, sources, rest,
                       skip_links=[built.rendered.markers.unsubscribe_url,
                                   f"{config.base_url}/issues/{issue.date.isoformat()}/"])
