"""`newsletter check`: lint every paper and issue file, render the issues, report all findings.

Unlike `compose`, which stops at the first invalid file, this reads each file on its own and
turns each problem into a finding, so the editor sees everything at once.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from .check_rules import (
    LINK_CODES,
    PaperEntry,
    duplicate_rules,
    front_matter_rules,
    link_problem,
    markdown_rules,
    snippet,
    value_lines,
)
from .compose import draft_for_date, featured_before
from .config import Config
from .content import Content, Document, parse_issue, parse_paper, read_document
from .diagnostics import Diagnostic
from .errors import ContentError, NewsletterError, display_path
from .models import REQUIRED_PAPER_SECTIONS, Issue, Paper
from .render import HTML_TEMPLATE, TEXT_TEMPLATE, UNSUBSCRIBE_MARKER

HTML_LIMIT = 90_000  # bytes; Gmail clips a message at ~102 KB and hides the rest
TEXT_WIDTH = 78  # RFC 5322's recommended line length


@dataclass
class CheckReport:
    """All findings of one run, and what was looked at."""

    findings: list[Diagnostic]
    papers: int
    issues: int
    rendered: list[str] = field(default_factory=list)
    not_rendered: dict[str, str] = field(default_factory=dict)  # date -> why

    @property
    def errors(self) -> int:
        return sum(f.severity == "error" for f in self.findings)

    @property
    def warnings(self) -> int:
        return sum(f.severity == "warning" for f in self.findings)

    @property
    def exit_code(self) -> int:
        """1 when any finding is an error (exit 2 is left to errors that stop the check)."""
        return 1 if self.errors else 0


@dataclass
class _Loaded:
    doc: Document | None
    model: Paper | Issue | None


def _from_error(exc: NewsletterError, code: str) -> Diagnostic:
    return Diagnostic("error", exc.path, exc.line, exc.detail, exc.hint or "", code)


def _covered(exc: ContentError, found: list[Diagnostic]) -> bool:
    """A parse error that a finer rule reported already (with a better line)."""
    if exc.detail.startswith("paper has no '## "):
        return any(f.code == "required-section" for f in found)
    if "field 'links" in exc.detail:
        return any(f.code in LINK_CODES for f in found)
    return False


def _load(paths: list[Path], parse, findings: list[Diagnostic], rules) -> dict[Path, _Loaded]:
    loaded = {}
    for path in paths:
        try:
            doc = read_document(path)
        except ContentError as exc:
            findings.append(_from_error(exc, "invalid-file"))
            loaded[path] = _Loaded(None, None)
            continue
        found = rules(doc)
        try:
            model = parse(doc)
        except ContentError as exc:
            model = None
            if not _covered(exc, found):
                found.append(_from_error(exc, "invalid-file"))
        findings += found
        loaded[path] = _Loaded(doc, model)
    return loaded


def _paper_entries(papers: dict[Path, _Loaded], featured: dict[str, str]) -> list[PaperEntry]:
    entries = []
    for path, item in papers.items():
        meta = item.doc.meta if item.doc else {}
        title, venue, links = meta.get("title"), meta.get("venue"), meta.get("links")
        if not isinstance(title, str) or not isinstance(venue, str):
            continue
        urls = tuple(str(u) for u in links.values()) if isinstance(links, dict) else ()
        line = value_lines(item.doc).get(("title",)) if item.doc else None
        entries.append(PaperEntry(path.stem, path, title.strip(), venue.strip(), urls, line,
                                  featured.get(path.stem)))
    return entries


def _issue_slugs(item: _Loaded) -> list[str]:
    if isinstance(item.model, Issue):
        return item.model.papers
    papers = item.doc.meta.get("papers") if item.doc else None
    return [s for s in papers if isinstance(s, str)] if isinstance(papers, list) else []


def run_check(config: Config, date: dt.date | None = None, *,
              now: dt.datetime | None = None) -> CheckReport:
    """Check all content and render every issue, or only the issue for `date` and its papers.

    Raises ContentError when there is no content folder and ComposeError when `date` has no
    issue file and no eligible paper to draft one from: nothing could be checked then.
    """
    now = now or dt.datetime.now(dt.UTC)
    content_dir = config.resolve(config.content_dir)
    if not content_dir.is_dir():
        raise ContentError("content folder not found", path=content_dir,
                           hint="set content_dir in newsletter.toml")
    findings: list[Diagnostic] = []
    paper_paths = sorted(config.papers_dir.glob("*.md"))
    papers = _load(paper_paths, parse_paper, findings,
                   lambda doc: markdown_rules(doc, REQUIRED_PAPER_SECTIONS)
                   + front_matter_rules(doc, tracks=config.tracks))
    known = {path.stem for path in paper_paths}
    issues = _load(sorted(config.issues_dir.glob("*.md")), parse_issue, findings,
                   lambda doc: markdown_rules(doc) + front_matter_rules(doc, known_papers=known))

    valid_papers = {p.stem: item.model for p, item in papers.items() if item.model}
    valid_issues = {item.model.date: item.model for item in issues.values() if item.model}
    issue_paths = {item.model.date: path for path, item in issues.items() if item.model}
    featured = {slug: day.isoformat() for slug, day in featured_before(valid_issues).items()}
    findings += duplicate_rules(_paper_entries(papers, featured))

    pool = Content(valid_papers, valid_issues, {p.stem: p for p in papers},  # type: ignore[arg-type]
                   issue_paths)
    if date is None:
        to_render = [valid_issues[d] for d in sorted(valid_issues)]
        scope = None
    else:
        to_render, scope = _scope(config, date, issues, pool)
    counts = (len(scope) - 1, 1) if scope is not None else (len(papers), len(issues))
    report = CheckReport([], *counts)
    for path, item in issues.items():
        if item.model is None and (date is None or path.stem == date.isoformat()):
            report.not_rendered[path.stem] = "the issue file is invalid"
    for issue in to_render:
        findings += _render_findings(issue, pool, config, now, report)
    if scope is not None:
        findings = [f for f in findings if f.path is None or f.path.resolve() in scope]
    unique = {(f.path and display_path(f.path), f.line, f.code, f.message): f for f in findings}
    report.findings = sorted(unique.values(), key=lambda f: (
        display_path(f.path) if f.path else "", f.line or 0, f.code, f.message))
    return report


def _scope(config: Config, date: dt.date, issues: dict[Path, _Loaded],
           pool: Content) -> tuple[list[Issue], set[Path]]:
    """The issue for `date` (or the draft compose would write) and the files it is made of."""
    path = config.issues_dir / f"{date.isoformat()}.md"
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
    from .publish import build_issue  # renders: MJML and CSS inlining load only when needed

    name = issue.date.isoformat()
    invalid = [slug for slug in issue.papers if slug not in pool.papers]
    if invalid:
        report.not_rendered[name] = f"paper '{invalid[0]}' is missing or invalid"
        return []
    try:
        built = build_issue(issue, pool, config, now)
    except NewsletterError as exc:
        report.not_rendered[name] = "it does not render"
        return [_from_error(exc, "render-error")]
    report.rendered.append(name)
    issue_path = pool.issue_paths.get(issue.date, config.issues_dir / f"{name}.md")
    sources = Locator([issue_path, *(pool.paper_paths[s] for s in issue.papers)])
    templates = config.templates_path
    rest = Locator([templates / HTML_TEMPLATE, templates / TEXT_TEMPLATE, config.config_path])
    html = built.files["issue.html"]
    return email_rules(built.rendered.html, built.files["issue.txt"].decode(), len(html),
                       issue_path, sources, rest, skip_links=[UNSUBSCRIBE_MARKER])


class _Tags(HTMLParser):
    """<a href> and <img> of the rendered email (markup inside comments is ignored)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.images: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.links.append(str(values["href"]))
        elif tag == "img":
            self.images.append(values)


class Locator:
    """Finds which source file and line a piece of rendered output came from."""

    def __init__(self, paths: Iterable[Path | None]) -> None:
        self.files = []
        for path in paths:
            if path is not None and path.is_file():
                self.files.append((path, path.read_text(encoding="utf-8").split("\n")))

    def find(self, *needles: str) -> tuple[Path, int] | None:
        for needle in filter(None, needles):
            for path, lines in self.files:
                for number, line in enumerate(lines, start=1):
                    if needle in line:
                        return path, number
        return None


def email_rules(html: str, text: str, html_bytes: int, where: Path, content: Locator,
                rest: Locator, skip_links: Iterable[str] = ()) -> list[Diagnostic]:
    """The rendered issue: size, plaintext width, images without alt, links not https.

    Problems that come from content files are reported by the Markdown rules already, so
    here only those from templates and settings are (`content` locates the former, `rest`
    the latter); `where` is the issue file, used when no source line is found.
    """
    found = []
    if html_bytes > HTML_LIMIT:
        found.append(Diagnostic("error", where, None,
                                f"the HTML email is {html_bytes:,} bytes, over {HTML_LIMIT:,}",
                                "Gmail clips long messages: shorten the papers or feature fewer",
                                "html-size"))
    for number, line in enumerate(text.split("\n"), start=1):
        if len(line) > TEXT_WIDTH:
            longest = max(line.split(), key=len, default="")
            path, source_line = content.find(line.strip(), longest) or \
                rest.find(line.strip(), longest) or (where, None)
            found.append(Diagnostic(
                "error", path, source_line,
                f"plaintext line {number} is {len(line)} columns, over {TEXT_WIDTH}: "
                f"'{snippet(line, 50)}'",
                "shorten the line in its source (a long URL: link a shorter address)",
                "text-width"))
    tags = _Tags()
    tags.feed(html)
    tags.close()
    skip = set(skip_links)
    for image in tags.images:
        src = str(image.get("src") or "")
        decorative = image.get("role") == "presentation" or image.get("aria-hidden") == "true"
        if not (image.get("alt") or "").strip() and not decorative and not content.find(src):
            path, line = rest.find(src) or (where, None)
            found.append(Diagnostic("error", path, line, f"image '{src}' has no alt text",
                                    "give it an alt attribute that says what it shows",
                                    "image-alt"))
    for url in [*tags.links, *(str(i.get("src") or "") for i in tags.images)]:
        problem = link_problem(url)
        if url in skip or problem is None or problem.code != "not-https" or content.find(url):
            continue
        path, line = rest.find(url) or (where, None)
        found.append(Diagnostic("error", path, line, problem.message, problem.hint,
                                problem.code))
    return found


def format_text(report: CheckReport) -> str:
    """One finding per line, like a compiler, then what to do, then a summary."""
    lines = []
    for finding in report.findings:
        code = f" [{finding.code}]" if finding.code else ""
        lines.append(f"{finding.where}: {finding.severity}: {finding.message}{code}")
        if finding.hint:
            lines.append(f"    fix: {finding.hint}")
    for name, why in sorted(report.not_rendered.items()):
        lines.append(f"note: issue {name} was not rendered: {why}")
    rendered = f"{len(report.rendered)} rendered"
    lines.append(f"checked {report.papers} paper(s) and {report.issues} issue(s) ({rendered}): "
                 f"{report.errors} error(s), {report.warnings} warning(s)")
    return "\n".join(lines)


def format_json(report: CheckReport) -> str:
    """The report for machines: findings with path, line, severity, code, message, hint."""
    data = {
        "findings": [finding.to_dict() for finding in report.findings],
        "summary": {"papers": report.papers, "issues": report.issues,
                    "rendered": report.rendered, "not_rendered": report.not_rendered,
                    "errors": report.errors, "warnings": report.warnings,
                    "exit_code": report.exit_code},
    }
    return json.dumps(data, indent=2, ensure_ascii=False)
