"""What a send run did: counts of each outcome, and where the ledger stands after it."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum

from newsletter.store.base import WorkerStatus


class Outcome(Enum):
    SENT = "sent"
    FAILED = "failed"
    BOUNCED = "bounced"
    SKIPPED = "skipped"
    RETRIED = "retried"  # a temporary failure, tried again later: not a finished message


@dataclass
class SendReport:
    """What one run did, and where the ledger stands after it."""

    issue: str
    queued: int = 0  # rows added to the ledger by this run
    in_doubt: int = 0  # rows found in flight from a dead run or a lost worker, sent again
    retried_failed: int = 0  # failed rows put back to pending (--retry-failed)
    elapsed: float = 0.0
    interrupted: bool = False
    nothing_to_send: bool = False  # every reader had it already: no worker was started
    counts: dict[str, int] = field(default_factory=dict)
    outcomes: Counter[Outcome] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, outcome: Outcome) -> None:
        with self._lock:
            self.outcomes[outcome] += 1

    def add_in_doubt(self, count: int) -> None:
        """Rows in flight of a lost worker (or connection), taken over by this run."""
        if count:
            with self._lock:
                self.in_doubt += count

    @property
    def sent(self) -> int:
        return self.outcomes[Outcome.SENT]

    @property
    def failed(self) -> int:
        return self.outcomes[Outcome.FAILED]

    @property
    def bounced(self) -> int:
        return self.outcomes[Outcome.BOUNCED]

    @property
    def skipped(self) -> int:
        return self.outcomes[Outcome.SKIPPED]

    @property
    def retries(self) -> int:
        return self.outcomes[Outcome.RETRIED]


@dataclass
class IssueStatus:
    """The ledger of one issue, for `newsletter status`."""

    issue: str
    counts: dict[str, int]
    failed: list[tuple[str, int, str | None]]  # (email, attempts, reply)
    in_doubt: list[str]
    workers: list[WorkerStatus] = field(default_factory=list)  # live and lost send processes
