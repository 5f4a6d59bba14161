"""The transport contract, after Django's email backends: open(), close(), send_messages().

A transport only pushes messages. It does not know about subscribers or the ledger: the
manager (delivery.py) decides what goes to whom and records each outcome.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from newsletter.errors import DeliveryError
from newsletter.mail.headers import ascii_address

# An enhanced status code (RFC 3463) at the start of a reply: "5.1.1 <x@y>: no such user".
_ENHANCED = re.compile(r"([245])\.(\d{1,3})\.(\d{1,3})\b")
_NO_MAILBOX = re.compile(r"5\.1\.\d|no such (user|mailbox|recipient)|user unknown|unknown user"
                         r"|mailbox (does not|doesn't) exist", re.I)
# 5.1.7 and 5.1.8 are about the sender's address, whichever command they answer: Postfix, for
# one, reports a refused sender in its reply to RCPT TO ("Sender address rejected").
_SENDER_CODES = frozenset({"7", "8"})
_SENDER_REJECTED = re.compile(r"sender address rejected", re.I)

Stage = Literal["MAIL", "RCPT", "DATA"]


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message for one recipient: SMTP envelope addresses and the finished bytes."""

    sender: str
    recipient: str
    data: bytes
    # True when no line of `data` starts with "." (MessageTemplate guarantees it): the SMTP
    # transport then skips its dot-stuffing scan, which costs about 35 µs on a 38 KB message.
    dot_safe: bool = False


@dataclass(frozen=True, slots=True)
class Reply:
    """What the server (or the outbox) answered to one message, and to which command.

    `stage` is the command the reply answers: MAIL FROM (the sender), RCPT TO (the recipient)
    or DATA (the DATA command or the message itself; also any reply that is not the server's).
    """

    code: int
    text: str
    stage: Stage = "DATA"

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300

    @property
    def temporary(self) -> bool:
        return 400 <= self.code < 500

    @property
    def permanent(self) -> bool:
        return self.code >= 500

    @property
    def sender_refused(self) -> bool:
        """A permanent refusal of the sender: no message of the run can go out as it is."""
        if not self.permanent:
            return False
        if self.stage == "MAIL" or _SENDER_REJECTED.search(self.text):
            return True
        enhanced = _ENHANCED.match(self.text)
        return enhanced is not None and enhanced[2] == "1" and enhanced[3] in _SENDER_CODES

    def mailbox_unknown(self, recipient: str) -> bool:
        """A permanent 'no such mailbox' (5.1.x) for `recipient`: do not mail it again.

        Only a reply to RCPT TO, or one after DATA that names the recipient, is about the
        reader's mailbox; a refused sender never is.
        """
        if not self.permanent or self.sender_refused:
            return False
        if self.stage == "DATA" and not _names(self.text, recipient):
            return False
        enhanced = _ENHANCED.match(self.text)
        if enhanced:
            return enhanced[1] == "5" and enhanced[2] == "1"
        return self.code in (550, 551, 553) and bool(_NO_MAILBOX.search(self.text))

    def __str__(self) -> str:
        return f"{self.code} {self.text}".strip()


def _names(text: str, recipient: str) -> bool:
    """Whether a reply names the address, as stored or as sent (the domain's ASCII form)."""
    text = text.lower()
    try:
        sent = ascii_address(recipient)
    except DeliveryError:
        sent = recipient
    return recipient.lower() in text or sent.lower() in text


class TransportError(DeliveryError):
    """The transport cannot work at all: no connection, TLS refused, login refused.

    `retry` says whether trying again later can help (a server that is down) or not
    (a wrong password, a certificate that does not verify).
    """

    def __init__(self, message: str, *, retry: bool, hint: str | None = None) -> None:
        self.retry = retry
        super().__init__(message, hint=hint)


class Transport(ABC):
    """Pushes messages somewhere. Use as a context manager or call open() and close()."""

    name = "transport"

    @abstractmethod
    def open(self) -> None:
        """Make ready to send; does nothing when already open. Raises TransportError."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection; safe to call twice."""

    @abstractmethod
    def send(self, envelope: Envelope) -> Reply:
        """Push one message and return the reply to it (opening first if needed).

        A dropped connection or a timeout during the message comes back as a temporary
        Reply (4.4.x); the next call connects again.
        """

    def send_messages(self, envelopes: Iterable[Envelope],
                      on_reply: Callable[[Envelope, Reply], None] | None = None) -> int:
        """Push each message; return how many were accepted.

        `on_reply` runs right after each reply and before the next message goes out, so a
        caller can record every acceptance the moment it happens.
        """
        accepted = 0
        self.open()
        for envelope in envelopes:
            reply = self.send(envelope)
            accepted += reply.ok
            if on_reply is not None:
                on_reply(envelope, reply)
        return accepted

    def __enter__(self) -> Transport:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
