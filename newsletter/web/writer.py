"""Group commit for the one-click burst after a send.

Each unsubscribe must be on disk before its 200 goes out (a reader told "unsubscribed" must
never be mailed again), and a durable commit costs a flush of the database's log: a few
milliseconds on PostgreSQL with fsync, hundreds per second at best if each request had its
own. Requests that arrive while a commit is under way wait for the next one, which takes
them all: one commit per batch, on a thread of its own with a store of its own, while the
event loop goes on answering.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from newsletter.store.base import Store


class Unsubscriber:
    """Unsubscribes readers in batches: `await leave(id)` returns once it is committed."""

    def __init__(self, open_store: Callable[[], Store]) -> None:
        self._open = open_store
        self._store: Store | None = None  # used on the writer thread only
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="newsletter-writer")
        self._waiting: list[tuple[int, asyncio.Future[None]]] = []
        self._running = False

    async def leave(self, subscriber_id: int) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._waiting.append((subscriber_id, done))
        if not self._running:
            self._running = True
            loop.create_task(self._commit_all())
        await done

    async def _commit_all(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    await loop.run_in_executor(self._executor, self._commit,
                                               [subscriber_id for subscriber_id, _ in batch])
                except Exception as exc:  # each waiting request reports it
                    for _, done in batch:
                        done.set_exception(exc)
                else:
                    for _, done in batch:
                        done.set_result(None)
        finally:
            self._running = False

    def _commit(self, subscriber_ids: list[int]) -> None:
        if self._store is None:
            self._store = self._open()
        self._store.unsubscribe_many(subscriber_ids)

    def close(self) -> None:
        def close_store() -> None:
            if self._store is not None:
                self._store.close()
                self._store = None

        self._executor.submit(close_store).result()
        self._executor.shutdown()
