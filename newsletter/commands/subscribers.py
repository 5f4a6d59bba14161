"""`newsletter subscribers ...` and `newsletter unsubscribe`: the list, on the configured store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from newsletter.audience import subscribers as audience
from newsletter.audience.subscribers import ImportReport
from newsletter.audience.tokens import signer_for
from newsletter.config import Config
from newsletter.store import open_store
from newsletter.store.base import Subscriber


def import_csv(config: Config, path: Path) -> ImportReport:
    with open_store(config) as store:
        return audience.import_csv(store, path)


def add(config: Config, address: str, name: str = "", *, reactivate: bool = False) -> str:
    with open_store(config) as store:
        return audience.add(store, address, name, reactivate=reactivate)


def remove(config: Config, address: str, *, forget: bool = False) -> str:
    with open_store(config) as store:
        return audience.remove(store, address, forget=forget)


def iter_subscribers(config: Config, status: str | None = None) -> Iterator[Subscriber]:
    """Stream subscribers in the order they were added."""
    with open_store(config) as store:
        yield from store.iter_subscribers(status)


def export_csv(config: Config, out: TextIO, status: str | None = None) -> int:
    return audience.export_csv(iter_subscribers(config, status), out)


def unsubscribe(config: Config, token: str) -> str:
    signer = signer_for(config)
    with open_store(config) as store:
        return audience.unsubscribe(store, signer, token)
