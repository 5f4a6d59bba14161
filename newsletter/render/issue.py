"""Render an issue once: Jinja2 -> MJML -> HTML (styles inlined), and Jinja2 -> plaintext."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import css_inline
import jinja2
from jinja2.exceptions import FilterArgumentError
from markupsafe import Markup, escape
from mjml import mjml2html

from newsletter.config import Config
from newsletter.content.models import BOTTOM_LINE, Issue, Paper, default_subject, human_date
from newsletter.errors import RenderError
from newsletter.render.environment import environment, render_template
from newsletter.render.figures import Figures
from newsletter.render.greeting import GENERIC_NAME
from newsletter.render.lines import WIDTH, underline, wrap
from newsletter.render.prose import Prose

HTML_TEMPLATE = "issue.mjml.j2"
TEXT_TEMPLATE = "issue.txt.j2"

_MEDIA_STYLE = re.compile(r"<style\b[^>]*>(?:(?!</style>).)*@media(?:(?!</style>).)*</style>", re.S)
_INLINER = css_inline.CSSInliner(keep_style_tags=False, load_remote_stylesheets=False)


@dataclass(frozen=True)
class Markers:
    """Where each reader's name and unsubscribe link go, filled in without re-rendering.

    Each render draws new random markers, so no text in a paper or issue can stand for them:
    content can never reach a reader's personal slots.
    """

    name: str
    unsubscribe_url: str

    @classmethod
    def fresh(cls) -> Markers:
        nonce = secrets.token_hex(8)
        return cls(f"@@NL_NAME_{nonce}@@", f"@@NL_UNSUBSCRIBE_URL_{nonce}@@")


@dataclass(frozen=True)
class Rendered:
    """One issue, rendered once; markers stand where each recipient's details go."""

    subject: str
    preheader: str
    html: str
    text: str
    mjml: str
    markers: Markers
    figures: tuple[Path, ...] = ()  # the local figure files shown, published with the issue

    def personalize(self, name: str = GENERIC_NAME, unsubscribe_url: str = "") -> tuple[str, str]:
        """(html, text) for one reader."""
        name_marker, url_marker = self.markers.name, self.markers.unsubscribe_url
        html = self.html.replace(name_marker, str(escape(name))).replace(
            url_marker, str(escape(unsubscribe_url)))
        text = self.text.replace(name_marker, name).replace(url_marker, unsubscribe_url)
        return html, text

    def digest(self) -> str:
        """A hash of the content without the (random) markers: the same issue, the same hash."""
        html, text = self.personalize("", "")
        return hashlib.sha256((text + html).encode()).hexdigest()


def link_label(name: str) -> str:
    """Button text that makes sense on its own (screen readers list links out of context)."""
    return {"arxiv": "Read on arXiv", "paper": "Read the paper", "code": "Get the code"}.get(
        name.casefold(), name)


def paper_meta(paper: Paper) -> str:
    parts = [paper.venue]
    if paper.presentation:
        parts.append(paper.presentation.value)
    parts.append(paper.published.human())
    return " · ".join(parts)


def issue_subject(issue: Issue, config: Config) -> str:
    return issue.subject or default_subject(config.title, issue.date)


def preheader(issue: Issue, papers: list[Paper]) -> str:
    """The grey line inbox lists show after the subject."""
    if issue.intro:
        return " ".join(issue.intro.split())[:140]
    count = f"{len(papers)} paper{'s' if len(papers) != 1 else ''}"
    return f"{count} this week: " + "; ".join(p.title for p in papers)


def _argument(filter_name: str, value: Any, kind: type, what: str) -> Any:
    """A filter's argument checked, so a template passing the wrong value is a template
    error at its line (FilterArgumentError), not a failure inside our code."""
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise FilterArgumentError(
            f"the {filter_name} filter takes {what}, not {type(value).__name__} {value!r:.40}")
    return value


def _level(filter_name: str, value: Any, low: int, high: int) -> int:
    number: int = _argument(filter_name, value, int, f"a number from {low} to {high}")
    if not low <= number <= high:
        raise FilterArgumentError(
            f"the {filter_name} filter takes a number from {low} to {high}, not {number}")
    return number


def _paper(filter_name: str, value: Any) -> Paper | None:
    return None if value is None else _argument(filter_name, value, Paper, "a paper")


@jinja2.pass_context
def _markdown(context: jinja2.runtime.Context, markdown: Any, shift: Any = 0,
              paper: Any = None) -> Markup | str:
    """Markdown as HTML in the HTML template and as wrapped text in the text template.

    With `paper`, the text is a section of that paper: its footnotes are listed by the
    `notes` filter at the end of the paper; otherwise they follow the text itself.
    """
    markdown = _argument("markdown", markdown, str, "text")
    shift = _level("markdown", shift, 0, 5)
    of_paper = _paper("markdown", paper)
    prose: Prose = context["prose"]
    if context.eval_ctx.autoescape:
        return prose.html(markdown, shift, paper=of_paper)
    return prose.text(markdown, shift, paper=of_paper)


@jinja2.pass_context
def _notes(context: jinja2.runtime.Context, paper: Any) -> Markup | str:
    """A paper's footnotes, numbered (empty when it has none)."""
    of_paper = _argument("notes", paper, Paper, "a paper")
    prose: Prose = context["prose"]
    if context.eval_ctx.autoescape:
        return prose.notes_html(of_paper)
    return prose.notes_text(of_paper)


@jinja2.pass_context
def _ref(context: jinja2.runtime.Context, url: Any) -> int:
    prose: Prose = context["prose"]
    return prose.refs.number(_argument("ref", url, str, "a URL"))


def _wrap(text: Any, indent: Any = "", hanging: Any = None, width: Any = WIDTH) -> str:
    return wrap(_argument("wrap", text, str, "text"), _argument("wrap", indent, str, "text"),
                None if hanging is None else _argument("wrap", hanging, str, "text"),
                _level("wrap", width, 1, 10_000))


def _underline(title: Any, level: Any, width: Any = WIDTH) -> str:
    return underline(_argument("underline", title, str, "text"), _level("underline", level, 1, 6),
                     _level("underline", width, 1, 10_000))


def _link_label(name: Any) -> str:
    return link_label(_argument("link_label", name, str, "a link name"))


# The filters templates may use; each checks its arguments (see _argument).
FILTERS = (("markdown", _markdown), ("notes", _notes), ("ref", _ref), ("wrap", _wrap),
           ("underline", _underline), ("link_label", _link_label))


def inline_css(html: str) -> str:
    """Move CSS into style attributes (clients strip <style>); keep media queries in <head>."""
    kept = _MEDIA_STYLE.findall(html)
    html = _INLINER.inline(_MEDIA_STYLE.sub("", html))
    return html.replace("</head>", "".join(kept) + "</head>", 1)


def render_issue(issue: Issue, papers: list[Paper], config: Config) -> Rendered:
    """Render the issue once, as HTML and plaintext, with per-recipient markers."""
    templates = config.templates_path
    env = environment(templates, FILTERS)
    markers = Markers.fresh()
    figures = Figures(f"{config.base_url}/issues/{issue.date.isoformat()}")
    prose = Prose(figures, config.papers_dir, config.issue_path(issue.date))
    subject = issue_subject(issue, config)
    summary = preheader(issue, papers)
    context: dict[str, object] = {
        "newsletter": config, "issue": issue, "papers": papers,
        "date": human_date(issue.date), "subject": subject, "preheader": summary,
        "paper_meta": paper_meta,
        "bottom_line_title": BOTTOM_LINE,
        "name": markers.name, "unsubscribe_url": markers.unsubscribe_url, "prose": prose,
    }
    mjml_source = render_template(env, HTML_TEMPLATE, templates, context)
    try:
        html = mjml2html(mjml_source)
    except Exception as exc:  # MRML raises a bare exception type for invalid MJML
        raise RenderError(f"MJML error: {exc}", path=templates / HTML_TEMPLATE) from exc
    context["refs"] = prose.refs
    text = render_template(env, TEXT_TEMPLATE, templates, context)
    return Rendered(subject=subject, preheader=summary, html=inline_css(html), text=text,
                    mjml=mjml_source, markers=markers,
                    figures=tuple(figures.used[name] for name in sorted(figures.used)))
