"""The send manager: decides what goes to whom, hands messages to transports, records each one.

One run: every active subscriber is enqueued inside the database (memory stays flat), then
`connections` workers each claim small batches from the ledger, push each message through
their own transport connection and record the reply as soon as it comes. The ledger, not
this process, is the checkpoint: a run can be stopped or killed at any moment and started
again. The manager knows the store only by its protocol, and messages only by their template.

The one window for a duplicate is between the server's "250" to the end of DATA and the
commit that marks the row sent (a median under 0.1 ms, see BENCHMARKS.md); a row found in
'sending' at the start of a run is in that window or just before it, is sent again, and is
reported "in doubt". There are at most `connections` such rows.

Several processes may send one issue together on PostgreSQL (delivery/leases.py): each holds
a lease, takes over the rows of one whose lease ran out, and rides out a database restart.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator

from newsletter.config import Delivery
from newsletter.delivery.leases import (
    LEASE_SECONDS,
    OUTAGE_LIMIT,
    Lease,
    Reconnect,
    unreachable,
)
from newsletter.delivery.pacing import BatchSizer, RateLimiter, backoff
from newsletter.delivery.progress import Progress
from newsletter.delivery.report import Outcome, SendReport
from newsletter.delivery.transports.base import Envelope, Reply, Transport, TransportError
from newsletter.errors import DeliveryError, PendingError
from newsletter.mail.template import MessageTemplate
from newsletter.store.base import Claim, Store


class SendRun:
    """State shared by the workers of one run: what to send, where, and how it went."""

    def __init__(self, issue: str, template: MessageTemplate, sender: str,
                 open_store: Callable[[], Store], make_transport: Callable[[], Transport],
                 settings: Delivery, rate: float, progress: Progress,
                 lease_seconds: float = LEASE_SECONDS) -> None:
        self.issue, self.template, self.sender = issue, template, sender
        self.open_store, self.make_transport = open_store, make_transport
        self.settings = settings
        self.progress = progress
        self.report = SendReport(issue)
        self.limiter = RateLimiter(rate)
        self.lease = Lease(issue, lease_seconds, open_store, self.report)
        self.stop = threading.Event()
        self.done = threading.Event()  # set when the last worker has returned
        # Notified when a worker hands back a batch: idle workers look at the ledger again
        # at once instead of at their next poll. `_handed_back` counts those batches, so a
        # worker that looked at the ledger just before one was handed back does not wait.
        self._changed = threading.Condition()
        self._handed_back = 0
        self.workers = 0
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self._returned = 0

    def fail(self, error: BaseException) -> None:
        with self._lock:
            self.error = self.error or error
        self.stop.set()
        self._notify()

    def _notify(self) -> None:
        with self._changed:
            self._handed_back += 1
            self._changed.notify_all()

    def _idle(self, seconds: float, seen: int) -> None:
        """Wait up to `seconds`, less if another worker of this run hands back a batch (at
        once if one did since `_handed_back` was `seen`)."""
        with self._changed:
            if self._handed_back == seen and not self.stop.is_set():
                self._changed.wait(seconds)

    def count(self, outcome: Outcome) -> None:
        self.report.record(outcome)
        if outcome is not Outcome.RETRIED:
            self.progress.advance()

    def work(self, index: int) -> None:
        """One worker: its own database connection and its own transport connection."""
        try:
            transport = self.make_transport()
            try:
                self._connected(index, transport)
            finally:
                transport.close()
        except BaseException as exc:  # handed to the main thread, which re-raises it
            self.fail(exc)
        finally:
            with self._lock:
                self._returned += 1
                if self._returned == self.workers:
                    self.done.set()

    def _connected(self, index: int, transport: Transport) -> None:
        """The worker's loop on a database connection, opened again if the database goes away.

        Each connection has its own name: rows of one that lost the database are handed back
        first thing on the next, its row in flight marked in doubt.
        """
        reconnect = Reconnect()
        lost: list[str] = []  # names whose rows are not handed back yet
        for generation in itertools.count():
            worker = self.lease.worker(index, generation)
            try:
                with self.open_store() as store:
                    while lost:
                        self.report.add_in_doubt(store.abandon(self.issue, lost[-1]))
                        lost.pop()
                    self._loop(store, transport, worker, reconnect)
                return
            except DeliveryError as exc:
                if not unreachable(exc):
                    raise
                lost.append(worker)
                reconnect.wait(self.stop, exc)

    def _loop(self, store: Store, transport: Transport, worker: str,
              reconnect: Reconnect) -> None:
        down = 0  # consecutive failures to reach the server
        # Rows in flight elsewhere are only waited for (this run's workers say when they are
        # done; another process's are polled): look at the ledger less often on a shared one.
        idle = 0.25 if store.shared else 0.05
        sizer = BatchSizer(self.settings.batch_size)
        while not self.stop.is_set():
            seen = self._handed_back
            batch = store.claim_batch(self.issue, worker, sizer.size(), time.time())
            reconnect.reached()
            if not batch:
                left = store.outstanding(self.issue)
                if not left.pending and not left.in_flight:
                    return
                due = (left.next_due or 0) - time.time() if left.pending else idle
                self._idle(min(max(due, 0.01), 1.0), seen)
                continue
            started = time.monotonic()
            try:
                self._deliver(store, transport, worker, batch)
                down = 0
            except TransportError as exc:
                down += 1
                if not exc.retry or down >= self.settings.max_attempts:
                    self.fail(exc)
                    return
                transport.close()
                self.stop.wait(backoff(down, self.settings.retry_base, self.settings.retry_cap))
            else:
                sizer.observe(len(batch), time.monotonic() - started)
            finally:
                store.release(self.issue, worker, [claim.subscriber_id for claim in batch])
                self._notify()

    def _deliver(self, store: Store, transport: Transport, worker: str,
                 batch: list[Claim]) -> None:
        """Send a batch, one message after the other on this worker's connection.

        A row is marked in flight in a commit of its own before its message goes out, and
        sent right after the server's acceptance. When the next message is ready (built, and
        no rate limit to wait for) both go in one commit: the "sent" of this message and the
        "in flight" of the next, which halves the commits without widening the duplicate
        window (the next message is built before this one is sent).
        """
        issue = self.issue
        claims = iter(batch)
        current = self._prepare(store, claims)
        in_flight = False  # `current` was marked in flight by the previous commit
        try:
            while current is not None and not self.stop.is_set():
                claim, data = current
                transport.open()  # a server that is down raises here, before the row is sent
                if not in_flight:
                    self.limiter.wait(self.stop, store)
                    if not store.start_attempt(issue, worker, claim.subscriber_id):
                        current = self._prepare(store, claims)  # not ours any more
                        continue
                in_flight = True
                upcoming = self._prepare(store, claims)
                sender = self.template.envelope_sender(claim.subscriber_id)
                reply = transport.send(Envelope(sender, claim.email, data, dot_safe=True))
                in_flight = False
                if reply.ok and upcoming is not None and not self.limiter.interval \
                        and not self.stop.is_set():
                    started = store.mark_sent_and_start(issue, claim.subscriber_id, str(reply),
                                                        worker, upcoming[0].subscriber_id)
                    current, in_flight = upcoming, started
                    self.count(Outcome.SENT)
                else:
                    self._record(store, claim, reply)
                    current = upcoming
        finally:
            if in_flight and current is not None:
                # Marked in flight, but its message never went out: not an attempt after all.
                store.unstart(issue, current[0].subscriber_id)

    def _prepare(self, store: Store, claims: Iterator[Claim]) -> tuple[Claim, bytes] | None:
        """The next claim of the batch that can be sent, with its message; None at the end.

        A subscriber who left meanwhile is skipped, a message that cannot be built fails.
        """
        for claim in claims:
            issue, sid = self.issue, claim.subscriber_id
            if claim.status != "active":
                store.mark_failed(issue, sid, f"not sent: subscriber is {claim.status}",
                                  state="skipped")
                self.count(Outcome.SKIPPED)
                continue
            try:
                return claim, self.template.build(sid, claim.email, claim.name)
            except DeliveryError as exc:
                store.mark_failed(issue, sid, f"not sent: {exc.detail}")
                self.count(Outcome.FAILED)
        return None

    def _record(self, store: Store, claim: Claim, reply: Reply) -> None:
        issue, sid, text = self.issue, claim.subscriber_id, str(reply)
        if reply.ok:
            store.mark_sent(issue, sid, text)
            self.count(Outcome.SENT)
        elif reply.sender_refused:
            # Says nothing about this reader, and every other message would get the same.
            store.unstart(issue, sid)
            sender = self.template.envelope_sender(sid)
            raise TransportError(f"the server refused the sender {sender}: {text}",
                                 retry=False, hint="check from_address and delivery.bounce_"
                                                   "address, and that the server lets you "
                                                   "send as them")
        elif reply.permanent:
            bounced = reply.mailbox_unknown(claim.email)
            store.mark_failed(issue, sid, text, bounced=bounced)
            self.count(Outcome.BOUNCED if bounced else Outcome.FAILED)
        elif claim.attempts + 1 >= self.settings.max_attempts:
            store.mark_failed(issue, sid, f"gave up after {claim.attempts + 1} attempts: {text}")
            self.count(Outcome.FAILED)
        else:
            delay = backoff(claim.attempts + 1, self.settings.retry_base, self.settings.retry_cap)
            store.mark_retry(issue, sid, text, time.time() + delay)
            self.count(Outcome.RETRIED)


def run_workers(run: SendRun, store: Store, workers: int, *,
                retry_failed: bool = False) -> SendReport:
    """Recover, enqueue, and let `workers` threads send until nothing is left (or Ctrl-C).

    Call with the store's send lock held. Ctrl-C stops gracefully: the messages in flight
    finish, the rest stays pending, `report.interrupted` is set. `retry_failed` first puts
    the issue's failed rows back to pending (not those of readers who bounced or left).
    """
    report, progress, issue = run.report, run.progress, run.issue
    started = time.monotonic()
    if retry_failed:
        report.retried_failed = store.retry_failed(issue)
    report.in_doubt = store.recover(issue)
    report.queued = store.enqueue(issue)
    left = store.outstanding(issue)
    progress.total = left.pending
    if not left.pending and not left.in_flight:
        report.nothing_to_send = True
        report.counts = store.counts(issue)
        return report
    if report.in_doubt:
        progress.note(f"{report.in_doubt} message(s) were in flight when the last run "
                      "stopped: sending them again (the server may have had them)")
    if store.shared:
        run.limiter.share(issue)
    run.lease.start(store)
    try:
        _start_and_wait(run, workers)
    finally:
        run.lease.stop()
    progress.finish()
    report.elapsed = time.monotonic() - started
    report.counts = _final_counts(run, store)
    if run.error is not None:
        raise_run_error(run.error, report)
    return report


def _start_and_wait(run: SendRun, workers: int) -> None:
    run.workers = workers
    for index in range(workers):
        threading.Thread(target=run.work, args=(index,), daemon=True,
                         name=f"send-{index}").start()
    # Waiting on an Event, not Thread.join: on Python 3.11 a join interrupted by Ctrl-C
    # can mark a running thread as finished (gh-90882), and its batch would stay claimed.
    try:
        while not run.done.wait(0.2):
            run.progress.refresh()
    except KeyboardInterrupt:
        run.report.interrupted = True
        run.stop.set()
        run.progress.note("stopping: finishing the messages in flight "
                          "(press Ctrl-C again to quit at once)")
        run.done.wait()


def _final_counts(run: SendRun, store: Store) -> dict[str, int]:
    """The ledger after the run, on a new connection if the database restarted meanwhile.

    Empty if it stays away (at once when a worker already waited for it in vain).
    """
    try:
        return store.counts(run.issue)
    except DeliveryError as exc:
        if not unreachable(exc):
            raise
        error = exc
    reconnect = Reconnect(0.0 if unreachable(run.error) else OUTAGE_LIMIT)
    while True:
        try:
            reconnect.wait(threading.Event(), error)
        except DeliveryError:
            run.error = run.error or error
            return {}
        try:
            with run.open_store() as again:
                return again.counts(run.issue)
        except DeliveryError as exc:
            if not unreachable(exc):
                raise
            error = exc


def raise_run_error(error: BaseException, report: SendReport) -> None:
    """A worker's error, re-raised in the main thread; ours say how far the run got."""
    if not isinstance(error, DeliveryError):
        raise error
    resume = "run the same command again to resume"
    # A server (or the database) that stays unreachable leaves the readers pending: "try
    # again" (exit 75), not a mistake to fix (exit 2) as a refused login or sender is.
    retry = isinstance(error, TransportError) and error.retry or unreachable(error)
    kind = PendingError if retry else DeliveryError
    left = report.counts.get("pending")
    raise kind(f"{error.detail}; {report.sent} sent by this run"
               + (f", {left} left" if left is not None else ""),
               hint=f"{error.hint}, then {resume}" if error.hint else resume,
               code=error.code) from error
