"""The outbox transport: one .eml file per recipient, the embedded default (no server)."""

from __future__ import annotations

import contextlib
import hashlib
import re
from pathlib import Path

from newsletter.content.files import make_folder, write_atomic
from newsletter.delivery.transports.base import Envelope, Reply, Transport, TransportError
from newsletter.errors import DeliveryError, OutputError
from newsletter.mail.headers import ascii_address

_UNSAFE = re.compile(r"[^a-z0-9._@+-]")


def safe_name(address: str) -> str:
    """An ASCII file name for an address: readable, and distinct for distinct addresses.

    An internationalised domain is named in its ASCII form, as in the message's To header
    (user@xn--mnchen-3ya.de.eml); other unusual characters become "_" and a hash is added.
    """
    lowered = address.lower()
    if not lowered.isascii():
        with contextlib.suppress(DeliveryError):  # not an address: named by its hash
            lowered = ascii_address(lowered)
    name = _UNSAFE.sub("_", lowered).lstrip(".")[:200]
    if name != lowered:
        name += "-" + hashlib.sha256(address.encode()).hexdigest()[:10]
    return name + ".eml"


class OutboxTransport(Transport):
    """Writes outbox/<date>/sent/<address>.eml, each file whole or not at all.

    Sending twice to the same address rewrites the same file, so a resumed run can never
    leave two copies. Files are not fsynced: like the ledger they survive the process being
    killed, not a power cut.
    """

    name = "outbox"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def open(self) -> None:
        try:
            make_folder(self.folder)
        except OutputError as exc:
            raise TransportError(f"cannot create the outbox folder: {exc.one_line()}",
                                 retry=False) from exc

    def close(self) -> None:
        pass

    def send(self, envelope: Envelope) -> Reply:
        name = safe_name(envelope.recipient)
        try:
            write_atomic(self.folder / name, envelope.data)
        except OutputError as exc:
            # A full disk may clear up; the ledger retries it like a 4xx reply.
            return Reply(451, f"4.3.0 {exc.one_line()}")
        return Reply(250, f"2.0.0 written to {name}")
