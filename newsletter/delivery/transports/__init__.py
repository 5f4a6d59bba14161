"""Transports push finished messages: `outbox` (files) and `smtp` (a mail server)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from newsletter.config import Config
from newsletter.delivery.transports.base import Envelope, Reply, Transport, TransportError
from newsletter.errors import DeliveryError

__all__ = ["Envelope", "Reply", "Transport", "TransportError", "transport_factory"]

NAMES = ("outbox", "smtp")


def transport_factory(config: Config, name: str | None = None, *, smtp_url: str | None = None,
                      outbox_folder: Path) -> Callable[[], Transport]:
    """A function making one transport per worker, checked now so mistakes show before a send.

    `outbox_folder` is where the outbox transport writes (outbox/<date>/sent, or test/).
    """
    name = name or config.delivery.transport
    if name == "outbox":
        from newsletter.delivery.transports.outbox import OutboxTransport

        return lambda: OutboxTransport(outbox_folder)
    if name == "smtp":
        from newsletter.delivery.transports.smtp import SMTPSettings, SMTPTransport, ehlo_name

        url = smtp_url or config.delivery.smtp_url
        if not url:
            raise DeliveryError("the smtp transport needs a server",
                                hint="pass --smtp-url smtp://user@host:port or set "
                                     "delivery.smtp_url in newsletter.toml")
        ca_file = config.delivery.smtp_ca_file
        settings = SMTPSettings.from_url(url, timeout=config.delivery.smtp_timeout,
                                         ca_file=config.resolve(ca_file) if ca_file else None,
                                         ehlo_name=ehlo_name(config))
        return lambda: SMTPTransport(settings)
    raise DeliveryError(f"unknown transport {name!r}", hint=f"use one of: {', '.join(NAMES)}")
