"""Bounces and complaints in, classified events out (parsing only; nothing is stored here).

- Delivery status notifications (RFC 3464), and the older non-standard bounce formats, are
  read by flufl.bounce (the library GNU Mailman uses): which recipients failed for good and
  which are only delayed. The status code and diagnostic of each come from the DSN's own
  message/delivery-status fields, read with the `email` package.
- Feedback reports (ARF, RFC 5965: multipart/report; report-type=feedback-report), the
  "this is spam" button of a mailbox provider, are read with the `email` package.
- The issue and the subscriber come from the VERP return path, `bounces+<issue>.<token>@domain`,
  whose token is signed (`verp_address`, `parse_verp`), or else from the signed unsubscribe
  link in the returned message's List-Unsubscribe header.

A hard bounce means the address does not work (5.0.x, 5.1.x, 5.2.1, 5.4.x: no such user,
mailbox disabled, no such domain); every other failure is soft: temporary (4.x.x), or about
the message or the mailbox's state rather than the address (full, too big, policy, spam).
"""

from __future__ import annotations

import email
import email.parser
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from email.utils import collapse_rfc2231_value, getaddresses, parseaddr
from enum import StrEnum
from urllib.parse import parse_qs, urlsplit

from flufl.bounce import all_failures

from newsletter.audience.tokens import Signer, load_secret
from newsletter.config import Config
from newsletter.errors import NewsletterError
from newsletter.mail.headers import list_id

_ISSUE = re.compile(r"[A-Za-z0-9-]{1,64}")
_STATUS = re.compile(r"([245])\.(\d{1,3})\.(\d{1,3})")
_HARD = re.compile(r"5\.(0|1|4)\.\d+|5\.2\.1")
_COMPLAINTS = frozenset({"abuse", "fraud", "virus", "other"})
# Where a report may name the address it was sent to (our VERP return path), in order.
_ENVELOPE_HEADERS = ("delivered-to", "x-original-to", "to")


class Kind(StrEnum):
    HARD = "hard-bounce"
    SOFT = "soft-bounce"
    COMPLAINT = "complaint"
    UNCLASSIFIABLE = "unclassifiable"


@dataclass(frozen=True)
class Verp:
    issue: str
    subscriber_id: int


@dataclass(frozen=True)
class BounceEvent:
    """What one incoming report says: its kind, about whom, and the message it is about."""

    kind: Kind
    recipient: str | None = None  # lowercased; the first of `recipients`
    issue: str | None = None  # from the VERP address
    subscriber_id: int | None = None  # from the VERP token, else the unsubscribe link
    status: str | None = None  # RFC 3463 enhanced status, e.g. 5.1.1
    reason: str | None = None  # the Diagnostic-Code, or the ARF Feedback-Type
    message_id: str | None = None  # of the original message, when the report returns it
    recipients: tuple[str, ...] = ()
    delayed: bool = False  # only a delay notice ("Action: delayed"): nothing failed yet


@dataclass(frozen=True)
class Verifiers:
    """How to trust what a report claims: the signers' `verify(token) -> subscriber id`.

    `verp` checks the token in the return path, `unsubscribe` the one of List-Unsubscribe
    links; either raises our error for a forged token. None: no attribution from that source.
    """

    verp: Callable[[str], int] | None = None
    unsubscribe: Callable[[str], int] | None = None
    local_part: str = "bounces"


def bounce_signer(config: Config) -> Signer:
    """The signer of VERP tokens: the list's secret under a key of its own, so a return path
    (which any server on the way sees) can never be used as an unsubscribe token."""
    return Signer(load_secret(config.secret_path), f"bounces:{list_id(config)}")


def verp_address(bounce_address: str, issue: str, subscriber_id: int,
                 token: Callable[[int], str]) -> str:
    """`bounces+<issue>.<token>@domain`: the return path of one reader's message."""
    if not _ISSUE.fullmatch(issue):
        raise ValueError(f"issue {issue!r} cannot go in a VERP address")
    local, _, domain = bounce_address.rpartition("@")
    return f"{local}+{issue}.{token(subscriber_id)}@{domain}"


def parse_verp(address: str, verify: Callable[[str], int],
               local_part: str = "bounces") -> Verp | None:
    """The issue and subscriber in a VERP address; None if it is not one, or is forged."""
    addr = parseaddr(address.split(";", 1)[-1].strip())[1] or address.strip()
    local = addr.rpartition("@")[0]
    prefix, plus, rest = local.partition("+")
    if not plus or prefix.lower() != local_part.lower():
        return None
    issue, _, token = rest.partition(".")
    if not _ISSUE.fullmatch(issue) or not token:
        return None
    try:
        return Verp(issue, verify(token))
    except NewsletterError:
        return None


def classify(data: bytes, verifiers: Verifiers | None = None, *,
             envelope_recipient: str | None = None) -> BounceEvent:
    """The event in one incoming message: a bounce, a complaint, or neither.

    `envelope_recipient`, when the caller knows it (the RCPT TO of the bounce), is the
    first place the VERP address is looked for.
    """
    verifiers = verifiers or Verifiers()
    message = email.message_from_bytes(data)
    original = _original_headers(message)
    if message.get_content_type() == "multipart/report" and \
            _param(message, "report-type") == "feedback-report":
        event = _complaint(message, original)
    else:
        event = _bounce(message)
    return _attributed(event, message, original, verifiers, envelope_recipient)


def _param(message: Message, name: str) -> str:
    value = message.get_param(name, "")
    return str(collapse_rfc2231_value(value) if isinstance(value, tuple) else value).lower()


def _blocks(part: Message) -> list[Message]:
    """The header blocks the email package reads a message/* part into."""
    payload = part.get_payload() if part.is_multipart() else []
    return [block for block in payload if isinstance(block, Message)]


def _bounce(message: Message) -> BounceEvent:
    temporary, permanent = all_failures(message)
    failed = sorted(_decoded(permanent))
    delayed = sorted(_decoded(temporary) - set(failed))
    if not failed and not delayed:
        return BounceEvent(Kind.UNCLASSIFIABLE)
    recipient = (failed or delayed)[0]
    status, reason = _dsn_fields(message).get(recipient, (None, None))
    hard = bool(failed) and (status is None or bool(_HARD.fullmatch(status)))
    return BounceEvent(Kind.HARD if hard else Kind.SOFT, recipient, status=status,
                       reason=reason, recipients=tuple(failed + delayed), delayed=not failed)


def _decoded(addresses: frozenset[bytes]) -> set[str]:
    return {address.decode("ascii").lower() for address in addresses if address}


def _dsn_fields(message: Message) -> dict[str, tuple[str | None, str | None]]:
    """recipient -> (Status, Diagnostic-Code) from every message/delivery-status block."""
    found: dict[str, tuple[str | None, str | None]] = {}
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        for block in _blocks(part):  # the first block, about the message, has no recipient
            diagnostic = " ".join(str(block.get("diagnostic-code", "")).split()) or None
            status = _status(str(block.get("status", "")), diagnostic or "")
            for field in ("final-recipient", "original-recipient"):
                address = _typed_address(block.get(field))
                if address:
                    found.setdefault(address, (status, diagnostic))
    return found


def _status(field: str, diagnostic: str) -> str | None:
    """The enhanced status; a vague X.0.0 (Exim's) gives way to the server's own code."""
    status = _STATUS.search(field)
    if status is None or status[0].endswith(".0.0"):
        detail = _STATUS.search(diagnostic)
        if detail and (status is None or detail[1] == status[1]):
            return detail[0]
    return status[0] if status else None


def _typed_address(value: object) -> str | None:
    """'rfc822; a@b' (RFC 3464 address-type; address) as a@b, lowercased."""
    if not value:
        return None
    address = str(value).split(";", 1)[-1].strip()
    return (parseaddr(address)[1] or address).lower() or None


def _complaint(message: Message, original: Message | None) -> BounceEvent:
    """An ARF report: the feedback type, and whom the reported message was sent to."""
    report = next((part for part in message.walk()
                   if part.get_content_type() == "message/feedback-report"), None)
    fields = _report_fields(report)
    feedback = fields.get("feedback-type", "").strip().lower() or None
    recipients = _addresses(fields.get_all("original-rcpt-to", []))
    if not recipients and original is not None:
        recipients = _addresses(original.get_all("to", []))
    kind = Kind.COMPLAINT if feedback in _COMPLAINTS else Kind.UNCLASSIFIABLE
    return BounceEvent(kind, recipients[0] if recipients else None, reason=feedback,
                       recipients=tuple(recipients))


def _addresses(values: list[str]) -> list[str]:
    return [address.lower() for _, address in getaddresses([str(v) for v in values])
            if "@" in address]


def _report_fields(report: Message | None) -> Message:
    """The fields of a message/feedback-report part, however the parser left them."""
    if report is None:
        return Message()
    if report.is_multipart():  # the email package reads it as one header block
        return next(iter(_blocks(report)), Message())
    return email.parser.HeaderParser().parsestr(str(report.get_payload()).lstrip())


def _original_headers(message: Message) -> Message | None:
    """The returned message's headers (message/rfc822 or text/rfc822-headers), if any."""
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            return next(iter(_blocks(part)), None)
        if kind == "text/rfc822-headers":
            text = part.get_payload(decode=True)
            if isinstance(text, bytes):
                return email.parser.BytesHeaderParser().parsebytes(text.lstrip())
    return None


def _attributed(event: BounceEvent, message: Message, original: Message | None,
                verifiers: Verifiers, envelope_recipient: str | None) -> BounceEvent:
    """The event with its issue, subscriber and original Message-ID filled in."""
    verp = _verp(_return_paths(message, original, envelope_recipient), verifiers)
    subscriber = verp.subscriber_id if verp else _unsubscribe_id(original, verifiers)
    message_id = original.get("message-id") if original is not None else None
    return BounceEvent(event.kind, event.recipient, verp.issue if verp else None, subscriber,
                       event.status, event.reason,
                       " ".join(str(message_id).split()) if message_id else None,
                       event.recipients, event.delayed)


def _return_paths(message: Message, original: Message | None,
                  envelope_recipient: str | None) -> Iterator[str]:
    """Every place a report names the return path it was sent to, the likeliest first."""
    if envelope_recipient:
        yield envelope_recipient
    for name in _ENVELOPE_HEADERS:
        yield from (str(value) for value in message.get_all(name, []))
    for part in message.walk():
        if part.get_content_type() == "message/delivery-status":
            for block in _blocks(part)[:1]:
                yield from (str(v) for v in block.get_all("x-postfix-sender", []))
        if part.get_content_type() == "message/feedback-report":
            yield from (str(v) for v in _report_fields(part).get_all("original-mail-from", []))
    if original is not None:
        yield from (str(value) for value in original.get_all("return-path", []))


def _verp(candidates: Iterator[str], verifiers: Verifiers) -> Verp | None:
    if verifiers.verp is None:
        return None
    for candidate in candidates:
        for _, address in getaddresses([candidate.split(";", 1)[-1]]):
            found = parse_verp(address, verifiers.verp, verifiers.local_part)
            if found:
                return found
    return None


def _unsubscribe_id(original: Message | None, verifiers: Verifiers) -> int | None:
    """The subscriber whose signed unsubscribe link the returned message carries."""
    if original is None or verifiers.unsubscribe is None:
        return None
    links = re.findall(r"<([^>]+)>", " ".join(str(v) for v in
                                              original.get_all("list-unsubscribe", [])))
    for link in links:
        for token in parse_qs(urlsplit(link).query).get("token", []):
            try:
                return verifiers.unsubscribe(token)
            except NewsletterError:
                continue
    return None
