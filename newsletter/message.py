"""Message building: the issue as a multipart/alternative MIME message."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from .config import Config
from .errors import DeliveryError
from .render import Rendered


def refuse_header_injection(value: str, what: str) -> str:
    """CR or LF in a header value would let content forge extra headers."""
    if "\r" in value or "\n" in value:
        raise DeliveryError(f"{what} contains a line break", hint="remove the line break")
    return value


def sender(config: Config) -> str:
    return formataddr((refuse_header_injection(config.from_name, "from_name"),
                       refuse_header_injection(config.from_address, "from_address")))


def message_domain(config: Config) -> str:
    return config.from_address.rpartition("@")[2] or "localhost"


def new_message_id(config: Config, now: dt.datetime) -> str:
    """Unique, and always the same length, so issue.json's byte sizes stay stable."""
    return f"<{now:%Y%m%d%H%M%S}.{secrets.token_hex(8)}@{message_domain(config)}>"


def build_issue_message(rendered: Rendered, html: str, text: str, config: Config,
                        now: dt.datetime, to: str | None = None) -> bytes:
    """The archive copy of an issue (outbox/<date>/issue.eml): text/plain, then text/html.

    The MIME boundary is derived from the content so the same issue gives the same bytes,
    apart from Date and Message-ID.
    """
    message = EmailMessage(policy=policy.SMTP)
    message["Subject"] = refuse_header_injection(rendered.subject, "subject")
    message["From"] = sender(config)
    if to:
        message["To"] = refuse_header_injection(to, "recipient")
    if config.reply_to:
        message["Reply-To"] = refuse_header_injection(config.reply_to, "reply_to")
    message["Date"] = format_datetime(now)
    message["Message-ID"] = new_message_id(config, now)
    message["MIME-Version"] = "1.0"
    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    digest = hashlib.sha256((text + html).encode()).hexdigest()[:32]
    message.set_boundary(f"=_nl_{digest}")
    return message.as_bytes()
