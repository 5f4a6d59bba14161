"""The outbox transport: one .eml file per recipient, the embedded default (no server)."""

from __future__ import annotations

import hashlib
import os
import re
import threading
from pathlib import Path

from .base import Envelope, Reply, Transport, TransportError

_UNSAFE = re.compile(r"[^a-z0-9._@+-]")


def safe_name(address: str) -> str:
    """A file name for an address: readable, and distinct for distinct addresses."""
    lowered = address.lower()
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
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TransportError(f"cannot create {self.folder}: {exc.strerror}",
                                 retry=False) from exc

    def close(self) -> None:
        pass

    def send(self, envelope: Envelope) -> Reply:
        name = safe_name(envelope.recipient)
        target = self.folder / name
        temp = self.folder / f".{name}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            with open(temp, "wb") as handle:
                handle.write(envelope.data)
            os.replace(temp, target)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            # A full disk may clear up; the ledger retries it like a 4xx reply.
            return Reply(451, f"4.3.0 cannot write {target}: {exc.strerror}")
        return Reply(250, f"2.0.0 written to {name}")
