"""Double opt-in: the confirmation link and the mail that carries it, sent through the
configured transport (outbox files, or the SMTP server of delivery.smtp_url).

The link is stateless (audience/tokens.py: signed, expiring, bound to the address's state
when it was asked for), so nothing is stored for an address until its owner confirms.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from newsletter.audience.tokens import Confirmation, ConfirmSigner, state_mark
from newsletter.config import Config
from newsletter.delivery.transports import Envelope, transport_factory
from newsletter.errors import NewsletterError
from newsletter.mail.archive import new_message_id
from newsletter.mail.headers import sender
from newsletter.web.pages import render

log = logging.getLogger("newsletter.web")


def confirmation_link(config: Config, signer: ConfirmSigner, email: str, name: str,
                      state: tuple[str, str, str] | None, days: float,
                      now: float | None = None) -> tuple[str, int]:
    """The link to confirm `email`, and when it stops working (epoch seconds)."""
    expires = int((time.time() if now is None else now) + days * 86_400)
    token = signer.token(Confirmation(email, name, state_mark(state), expires))
    return f"{config.base_url}/confirm?token={token}", expires


def confirmation_message(config: Config, email: str, link: str, expires: int) -> bytes:
    """The confirmation mail: plain text, one link, marked as sent automatically."""
    now = dt.datetime.now(dt.UTC)
    message = EmailMessage(policy=SMTP)
    message["From"] = sender(config)
    message["To"] = email
    message["Subject"] = f"Confirm your subscription to {config.title}"
    message["Date"] = format_datetime(now)
    message["Message-ID"] = new_message_id(config, now)
    message["Auto-Submitted"] = "auto-generated"
    until = dt.datetime.fromtimestamp(expires, dt.UTC).strftime("%B %-d, %Y, %H:%M UTC")
    site = {"title": config.title, "tagline": config.tagline}
    message.set_content(render("confirmation.txt.j2", site=site, link=link, expires=until))
    return message.as_bytes()


class Mailer:
    """Sends confirmation mails through the configured transport; failures are logged, the
    reader is told nothing different (the page never says whether a mail went out)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._make = transport_factory(config,
                                       outbox_folder=config.outbox_path / "confirmations")

    def send(self, email: str, data: bytes) -> None:
        try:
            with self._make() as transport:
                reply = transport.send(Envelope(self.config.from_address, email, data))
        except (NewsletterError, OSError) as exc:
            log.warning("a confirmation mail could not be sent: %s", exc)
            return
        if not reply.ok:
            log.warning("a confirmation mail was refused: %s", reply)
