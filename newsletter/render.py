"""Writers' first half: Jinja2 -> MJML -> HTML (styles inlined) and Jinja2 -> plaintext."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import css_inline
import jinja2
from markupsafe import Markup, escape
from mjml import mjml2html

from .config import Config
from .errors import RenderError
from .models import BOTTOM_LINE, Issue, Paper
from .prose import Prose, underline, wrap

HTML_TEMPLATE = "issue.mjml.j2"
TEXT_TEMPLATE = "issue.txt.j2"

# Per-recipient parts, filled in by message building without re-rendering.
NAME_MARKER = "@@NL_NAME@@"
UNSUBSCRIBE_MARKER = "@@NL_UNSUBSCRIBE_URL@@"
GENERIC_NAME = "there"

_MEDIA_STYLE = re.compile(r"<style\b[^>]*>(?:(?!</style>).)*@media(?:(?!</style>).)*</style>", re.S)
_INLINER = css_inline.CSSInliner(keep_style_tags=False, load_remote_stylesheets=False)


@dataclass(frozen=True)
class Rendered:
    """One issue, rendered once; markers stand where each recipient's details go."""

    subject: str
    preheader: str
    html: str
    text: str
    mjml: str

    def personalize(self, name: str = GENERIC_NAME, unsubscribe_url: str = "") -> tuple[str, str]:
        """(html, text) for one reader."""
        html = self.html.replace(NAME_MARKER, str(escape(name))).replace(
            UNSUBSCRIBE_MARKER, str(escape(unsubscribe_url)))
        text = self.text.replace(NAME_MARKER, name).replace(UNSUBSCRIBE_MARKER, unsubscribe_url)
        return html, text


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
    return issue.subject or f"{config.title} - {human_date(issue)}"


def human_date(issue: Issue) -> str:
    return f"{issue.date.strftime('%B')} {issue.date.day}, {issue.date.year}"


def preheader(issue: Issue, papers: list[Paper]) -> str:
    """The grey line inbox lists show after the subject."""
    if issue.intro:
        return " ".join(issue.intro.split())[:140]
    count = f"{len(papers)} paper{'s' if len(papers) != 1 else ''}"
    return f"{count} this week: " + "; ".join(p.title for p in papers)


@jinja2.pass_context
def _markdown(context: jinja2.runtime.Context, markdown: str, shift: int = 0) -> Markup | str:
    """Markdown as HTML in the HTML template and as wrapped text in the text template."""
    if context.eval_ctx.autoescape:
        return context["prose"].html(markdown, shift)
    return context["prose"].text(markdown, shift)


@jinja2.pass_context
def _ref(context: jinja2.runtime.Context, url: str) -> int:
    return context["prose"].refs.number(url)


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates kept between runs (Jinja checks each template's source checksum)."""
    folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "newsletter"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return jinja2.FileSystemBytecodeCache(str(folder), "jinja-%s.cache")


@lru_cache(maxsize=8)
def _environment(templates: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates)), undefined=jinja2.StrictUndefined,
        autoescape=lambda name: bool(name) and not name.endswith(".txt.j2"),
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        bytecode_cache=_bytecode_cache(), auto_reload=True)
    env.filters.update(markdown=_markdown, ref=_ref, wrap=wrap, underline=underline,
                       link_label=link_label)
    return env


def environment(templates: Path) -> jinja2.Environment:
    """The Jinja environment of a template folder; edited templates are picked up (preview)."""
    if not templates.is_dir():
        raise RenderError("template folder not found", path=templates,
                          hint="set templates_dir in newsletter.toml")
    return _environment(templates)


def _template(env: jinja2.Environment, name: str, templates: Path) -> jinja2.Template:
    try:
        return env.get_template(name)
    except jinja2.TemplateNotFound:
        raise RenderError(f"template {name} not found", path=templates) from None
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(f"template error: {exc.message}", path=templates / name,
                          line=exc.lineno) from exc


def _render(template: jinja2.Template, context: dict, templates: Path) -> str:
    try:
        return template.render(**context)
    except jinja2.UndefinedError as exc:
        raise RenderError(f"template error: {exc.message}",
                          path=templates / (template.name or "")) from exc


def inline_css(html: str) -> str:
    """Move CSS into style attributes (clients strip <style>); keep media queries in <head>."""
    kept = _MEDIA_STYLE.findall(html)
    html = _INLINER.inline(_MEDIA_STYLE.sub("", html))
    return html.replace("</head>", "".join(kept) + "</head>", 1)


def render_issue(issue: Issue, papers: list[Paper], config: Config) -> Rendered:
    """Render the issue once, as HTML and plaintext, with per-recipient markers."""
    env = environment(config.templates_path)
    context = {
        "newsletter": config, "issue": issue, "papers": papers,
        "date": human_date(issue), "subject": issue_subject(issue, config),
        "preheader": preheader(issue, papers), "paper_meta": paper_meta,
        "bottom_line_title": BOTTOM_LINE,
        "name": NAME_MARKER, "unsubscribe_url": UNSUBSCRIBE_MARKER, "prose": Prose(),
    }
    templates = config.templates_path
    mjml_source = _render(_template(env, HTML_TEMPLATE, templates), context, templates)
    try:
        html = mjml2html(mjml_source)
    except Exception as exc:  # MRML raises a bare exception type for invalid MJML
        raise RenderError(f"MJML error: {exc}", path=templates / HTML_TEMPLATE) from exc
    context["refs"] = context["prose"].refs
    text = _render(_template(env, TEXT_TEMPLATE, templates), context, templates)
    return Rendered(subject=context["subject"], preheader=context["preheader"],
                    html=inline_css(html), text=text, mjml=mjml_source)
