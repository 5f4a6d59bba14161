"""The archive copy of an issue and the preview's headers come from the one MIME builder."""

from __future__ import annotations

import datetime as dt
import email
from email import policy
from email.message import EmailMessage

from newsletter.audience.tokens import Signer
from newsletter.commands.compose import compose_issue
from newsletter.commands.preview import build_preview
from newsletter.mail.template import SAMPLE_READER, MessageTemplate
from support.project import Project

DATE = dt.date(2025, 11, 28)
READER_HEADERS = {"To", "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post"}


def _parse(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=policy.default)  # type: ignore[return-value]


def _issue(project: Project) -> None:
    project.add_paper("a-paper", title="A Paper", published="2025-11-01")
    project.add_issue(DATE.isoformat(), ["a-paper"])


def test_archive_eml_has_the_headers_of_a_readers_message(project: Project) -> None:
    _issue(project)
    config = project.config()
    built = compose_issue(config, DATE).built
    assert built is not None
    archive = _parse(built.files["issue.eml"])
    signer = Signer(b"k" * 32, "research-update.news.example.org")
    template = MessageTemplate(built.rendered, config, DATE, signer.token,
                               dt.datetime.now(dt.UTC))
    reader = _parse(template.build(7, "ada@example.org", "Ada"))
    assert not archive.defects
    assert set(archive.keys()) == set(reader.keys())
    assert set(archive.keys()) >= READER_HEADERS
    assert archive["To"].addresses[0].addr_spec == SAMPLE_READER
    assert archive["List-Unsubscribe"].startswith("<https://news.example.org/unsubscribe>")
    assert archive["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert archive["List-Id"] == reader["List-Id"]
    # The parts of the archive copy are the outbox's issue.txt and issue.html, byte for byte.
    text = archive.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = archive.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert text.replace("\r\n", "\n") == built.files["issue.txt"].decode()
    assert html.replace("\r\n", "\n") == built.files["issue.html"].decode()


def test_preview_shows_the_headers_readers_receive(project: Project) -> None:
    _issue(project)
    preview = build_preview(project.root / "newsletter.toml", DATE, with_check=False)
    shown = dict(preview.headers)
    assert set(shown) >= READER_HEADERS
    assert shown["To"] == SAMPLE_READER
    assert shown["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert shown["List-Unsubscribe"].startswith("<https://news.example.org/unsubscribe>, ")
