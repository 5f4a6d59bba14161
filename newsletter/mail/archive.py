"""The archive copy of an issue: outbox/<date>/issue.{html,txt,eml,json} and the figures the
email shows, built in memory.

The .eml is what a (sample) reader gets, from the same MIME builder as every sent message,
so what the outbox and the preview show is what is sent. The figures sit beside it because
the web archive serves outbox/<date>/ as <base_url>/issues/<date>/, the address the email
shows them from.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from newsletter.config import Config
from newsletter.content.files import json_bytes
from newsletter.content.models import Issue, Paper
from newsletter.content.readers import Content
from newsletter.errors import ContentError
from newsletter.mail.headers import message_domain
from newsletter.mail.template import MessageTemplate
from newsletter.render.citation import citation
from newsletter.render.issue import Rendered, render_issue


def new_message_id(config: Config, now: dt.datetime) -> str:
    """Unique, and always the same length, so issue.json's byte sizes stay stable."""
    return f"<{now:%Y%m%d%H%M%S}.{secrets.token_hex(8)}@{message_domain(config)}>"


def figure_files(rendered: Rendered) -> dict[str, bytes]:
    """The figure files the email shows, by the name they are published under."""
    files = {}
    for path in rendered.figures:
        try:
            files[path.name] = path.read_bytes()
        except OSError as exc:
            raise ContentError(f"figure cannot be read: {exc.strerror}", path=path) from exc
    return files


def issue_files(issue: Issue, papers: list[Paper], rendered: Rendered, config: Config,
                now: dt.datetime) -> dict[str, bytes]:
    """The four outbox files of an issue and its figures, in memory."""
    template = MessageTemplate(rendered, config, issue.date, None, now)
    html, text = rendered.personalize(unsubscribe_url=template.unsubscribe_url(None))
    html_bytes, text_bytes = html.encode(), text.encode()
    eml = template.build_sample(new_message_id(config, now))
    figures = figure_files(rendered)
    summary = {
        "date": issue.date.isoformat(),
        "subject": rendered.subject,
        "status": issue.status,
        "papers": [{"slug": paper.slug, "title": paper.title, "citation": citation(paper)}
                   for paper in papers],
        "figures": sorted(figures),
        "bytes": {"html": len(html_bytes), "text": len(text_bytes), "eml": len(eml)},
    }
    return {"issue.html": html_bytes, "issue.txt": text_bytes, "issue.eml": eml,
            "issue.json": json_bytes(summary), **figures}


@dataclass
class BuiltIssue:
    """An issue rendered in memory, before anything is written."""

    issue: Issue
    papers: list[Paper]
    rendered: Rendered
    files: dict[str, bytes]


def build_issue(issue: Issue, content: Content, config: Config, now: dt.datetime) -> BuiltIssue:
    """Render one issue and its outbox files, in memory."""
    papers = content.papers_of(issue, config.papers_dir)
    rendered = render_issue(issue, papers, config)
    return BuiltIssue(issue, papers, rendered, issue_files(issue, papers, rendered, config, now))
