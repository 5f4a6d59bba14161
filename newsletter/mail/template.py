"""The one MIME builder: an issue's message built once, filled in per reader.

Everything that is the same for every reader (headers, boundary, both bodies encoded as
quoted-printable) is encoded once, with the places of the reader's name and unsubscribe link
cut out as slots: a recipient costs one HMAC, a few short encodings and one `bytes.join`,
instead of an EmailMessage (about 4.7 ms). The archive copy of the issue (outbox/D/issue.eml,
and what the preview shows) is the message of a sample reader, built by the same code.

Encoding by context: the name and link are HTML-escaped in the HTML part, then
quoted-printable encoded (wrapped at 76 columns) in both parts; a non-ASCII display name in
To is an RFC 2047 encoded word.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import format_datetime

from markupsafe import escape

from newsletter.config import Config
from newsletter.errors import DeliveryError
from newsletter.mail.headers import (
    CRLF,
    bounce_address,
    feedback_id,
    header,
    list_id,
    message_domain,
    refuse_header_injection,
    sender,
    to_header,
    unsubscribe_base,
)
from newsletter.mail.quoted_printable import qp_slot, qp_static
from newsletter.render.greeting import greeting
from newsletter.render.issue import Rendered

NAME, URL = 0, 1
# The archive copy's reader: a reserved domain (RFC 2606), so it can never be delivered.
SAMPLE_READER = "reader@example.invalid"
# RFC 5321's limit on a local part; a VERP token of a 12-digit subscriber id must fit.
_LOCAL_MAX, _LONGEST_TOKEN = 64, len("123456789012.") + 22


@dataclass(frozen=True)
class _Part:
    chunks: tuple[bytes, ...]  # static QP bytes; slots[i] goes between chunks[i] and [i + 1]
    slots: tuple[int, ...]
    html: bool


def _part(body: str, rendered: Rendered, html: bool) -> _Part:
    kinds = {rendered.markers.name: NAME, rendered.markers.unsubscribe_url: URL}
    markers = re.compile("|".join(re.escape(marker) for marker in kinds))
    body = body.replace("\r\n", "\n")
    pieces = markers.split(body)
    found = [kinds[marker] for marker in markers.findall(body)]
    chunks = [qp_static(piece, soft_end=index < len(found)) for index, piece in enumerate(pieces)]
    return _Part(tuple(chunks), tuple(found), html)


class MessageTemplate:
    """An issue's MIME message with slots; `build` makes one reader's bytes."""

    def __init__(self, rendered: Rendered, config: Config, issue_date: dt.date,
                 token: Callable[[int], str] | None, now: dt.datetime, *,
                 sign: Callable[[bytes], bytes] | None = None,
                 verp: Callable[[int], str] | None = None) -> None:
        """`token(subscriber_id) -> str` signs the unsubscribe link (None: no personal links);
        `sign(message) -> message` adds the DKIM signatures (None: unsigned);
        `verp(subscriber_id) -> str` signs the return path (None: the bare bounce address)."""
        refuse_header_injection(rendered.subject, "subject")
        self._token = token
        self._sign = sign
        self._verp = verp
        self.bounce_address = bounce_address(config)
        local, _, self._bounce_domain = self.bounce_address.rpartition("@")
        self._verp_prefix = f"{local}+{issue_date.isoformat()}."
        if len(self._verp_prefix) + _LONGEST_TOKEN > _LOCAL_MAX:
            raise DeliveryError(f"delivery.bounce_address {self.bounce_address!r}: its local "
                                f"part is too long for VERP (at most {_LOCAL_MAX} characters "
                                "with the issue and token)", hint="use a shorter local part, "
                                "e.g. bounces@", code="bounce-address")
        self.feedback_id = feedback_id(config, issue_date.isoformat())
        self._greeting = config.greeting_name
        self.list_id = list_id(config)
        self.unsubscribe_base = unsubscribe_base(config)
        self._joiner = "&" if "?" in self.unsubscribe_base else "?"
        mailto = refuse_header_injection(
            config.delivery.unsubscribe_mailto or config.from_address, "unsubscribe_mailto")
        self._mailto = f",\r\n <mailto:{mailto}?subject=unsubscribe>\r\n".encode()
        # Message-ID: the same for a reader each time the issue is sent to them, so a copy
        # resent after an interrupted run can be recognised as a duplicate by mail clients.
        tag = hashlib.sha256(self.list_id.encode()).hexdigest()[:10]
        self._id_prefix = f"<{issue_date:%Y%m%d}.".encode()
        self._id_suffix = f".{tag}@{message_domain(config)}>\r\n".encode()
        boundary = f"=_nl_{rendered.digest()[:32]}"
        self._head = self._static_headers(rendered, config, now, boundary)
        part_head = ("--{b}\r\nContent-Type: text/{t}; charset=\"utf-8\"\r\n"
                     "Content-Transfer-Encoding: quoted-printable\r\n\r\n")
        self._parts = (_part(rendered.text, rendered, html=False),
                       _part(rendered.html, rendered, html=True))
        self._separators = (
            CRLF + part_head.format(b=boundary, t="plain").encode(),
            CRLF + part_head.format(b=boundary, t="html").encode(),
            f"\r\n--{boundary}--\r\n".encode(),
        )

    def _static_headers(self, rendered: Rendered, config: Config, now: dt.datetime,
                        boundary: str) -> bytes:
        headers = [header("From", sender(config))]
        if config.reply_to:
            headers.append(header("Reply-To", refuse_header_injection(config.reply_to,
                                                                      "reply_to")))
        headers += [
            header("Subject", rendered.subject),
            header("Date", format_datetime(now)),
            header("List-Id", f"{refuse_header_injection(config.title, 'title')} "
                              f"<{self.list_id}>"),
            f"Feedback-ID: {self.feedback_id}\r\n".encode(),
            b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
            b"MIME-Version: 1.0\r\n",
            f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n'.encode(),
        ]
        return b"".join(headers)

    def envelope_sender(self, subscriber_id: int | None) -> str:
        """The reader's return path (MAIL FROM), `bounces+<issue>.<token>@domain` (VERP):
        returned mail names the issue and the reader, signed so it cannot be forged."""
        if subscriber_id is None or self._verp is None:
            return self.bounce_address
        return f"{self._verp_prefix}{self._verp(subscriber_id)}@{self._bounce_domain}"

    def unsubscribe_url(self, subscriber_id: int | None) -> str:
        """The reader's one-click link; without a reader (the archive copy), the bare address."""
        if subscriber_id is None or self._token is None:
            return self.unsubscribe_base
        return f"{self.unsubscribe_base}{self._joiner}token={self._token(subscriber_id)}"

    def build(self, subscriber_id: int | None, email: str, name: str = "", *,
              message_id: str | None = None) -> bytes:
        """The complete message for one reader (CRLF line ends, ready for SMTP DATA).

        `message_id` replaces the per-reader one (test copies must not look like duplicates).
        """
        to = to_header(email, name)
        url = self.unsubscribe_url(subscriber_id)
        if message_id is not None:
            identity = header("Message-ID", refuse_header_injection(message_id, "message_id"))
        else:
            identity = b"Message-ID: " + self._id_prefix + self._reader_mark(subscriber_id, url) \
                + self._id_suffix
        out = [self._head, to, identity,
               b"List-Unsubscribe: <" + url.encode() + b">", self._mailto, self._separators[0]]
        out += self._bodies(greeting(name, self._greeting), url)
        data = b"".join(out)
        return data if self._sign is None else self._sign(data)

    def _reader_mark(self, subscriber_id: int | None, url: str) -> bytes:
        """The reader's part of the Message-ID: a hash of their signed link (which names their
        uid), stable for them, and saying nothing about how many readers the list has."""
        source = url if self._token is not None else f"{self.list_id}\x00{subscriber_id}"
        return hashlib.sha256(source.encode()).hexdigest()[:20].encode()

    def build_sample(self, message_id: str) -> bytes:
        """The archive copy: a sample reader, the generic greeting, the bare unsubscribe link."""
        return self.build(None, SAMPLE_READER, message_id=message_id)

    def _bodies(self, greeting: str, url: str) -> list[bytes]:
        out = []
        for part, separator in zip(self._parts, self._separators[1:], strict=True):
            if part.html:
                values = (qp_slot(str(escape(greeting))), qp_slot(str(escape(url))))
            else:
                values = (qp_slot(greeting), qp_slot(url))
            chunks = part.chunks
            out.append(chunks[0])
            for index, slot in enumerate(part.slots):
                out.append(values[slot])
                out.append(chunks[index + 1])
            out.append(separator)
        return out
