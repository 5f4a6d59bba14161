"""The send manager: decides what goes to whom, hands messages to transports, records each one.

One run: render the issue once, enqueue every active subscriber inside the database (memory
stays flat), then `connections` workers each claim small batches from the ledger, push each
message through their own transport connection and record the reply as soon as it comes. The
ledger, not this process, is the checkpoint: a run can be stopped or killed at any moment and
started again.

The one window for a duplicate is between the server's "250" to the end of DATA and the
commit that marks the row sent (a median under 0.1 ms, see BENCHMARKS.md); a row found in
'sending' at the start of a run is in that window or just before it, is sent again, and is
reported "in doubt". There are at most `connections` such rows.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from .config import Config
from .errors import DeliveryError
from .message import new_message_id
from .mime_template import MessageTemplate, list_id
from .progress import Progress
from .render import Rendered
from .store import Claim, Store
from .tokens import Signer, load_secret
from .transports import Envelope, Reply, Transport, TransportError, transport_factory


@dataclass
class SendReport:
    """What one run did, and where the ledger stands after it."""

    issue: str
    queued: int = 0  # rows added to the ledger by this run
    in_doubt: int = 0  # rows found in flight from a dead run, sent again
    sent: int = 0
    failed: int = 0
    bounced: int = 0
    skipped: int = 0
    retries: int = 0
    elapsed: float = 0.0
    interrupted: bool = False
    counts: dict[str, int] = field(default_factory=dict)


def database_path(config: Config) -> Path:
    return config.resolve(config.delivery.database)


def open_store(config: Config) -> Store:
    return Store(database_path(config))


def signer(config: Config) -> Signer:
    """The token signer of this list (the secret comes from the environment or the key file)."""
    key_file = config.delivery.secret_file
    path = config.resolve(key_file) if key_file else \
        database_path(config).with_name(".newsletter-secret")
    return Signer(load_secret(path), list_id(config))


def render_for_sending(config: Config, date: dt.date) -> Rendered:
    """Render the issue file for `date` once, in memory (composed or not, nothing written)."""
    from .content import load_content
    from .publish import render_with_papers

    content = load_content(config.resolve(config.content_dir))
    issue = content.issues.get(date)
    if issue is None:
        raise DeliveryError(f"no issue for {date.isoformat()}",
                            path=config.issues_dir / f"{date.isoformat()}.md",
                            hint=f"run `newsletter compose --date {date.isoformat()}` and "
                                 "review the issue first")
    return render_with_papers(issue, content, config)[1]


def message_template(config: Config, date: dt.date) -> MessageTemplate:
    return MessageTemplate(render_for_sending(config, date), config, date, signer(config).token,
                           dt.datetime.now(dt.UTC))


def backoff(attempts: int, base: float, cap: float) -> float:
    """Seconds to wait after the n-th failed attempt: base, 2 base, 4 base ... at most cap."""
    return min(cap, base * 2 ** max(attempts - 1, 0))


class RateLimiter:
    """At most `rate` messages per second over all workers (0: no limit)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self, stop: threading.Event) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            stop.wait(slot - now)


class _Run:
    """State shared by the workers of one run."""

    def __init__(self, config: Config, issue: str, template: MessageTemplate,
                 make_transport: Callable[[], Transport], progress: Progress,
                 report: SendReport, rate: float) -> None:
        self.config, self.issue, self.template = config, issue, template
        self.make_transport = make_transport
        self.progress, self.report = progress, report
        self.settings = config.delivery
        self.limiter = RateLimiter(rate)
        self.stop = threading.Event()
        self.done = threading.Event()  # set when the last worker has returned
        self.workers = 0
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self._returned = 0

    def fail(self, error: BaseException) -> None:
        with self._lock:
            self.error = self.error or error
        self.stop.set()

    def count(self, what: str) -> None:
        with self._lock:
            setattr(self.report, what, getattr(self.report, what) + 1)
        if what != "retries":
            self.progress.advance()

    def work(self, index: int) -> None:
        """One worker: its own database connection and its own transport connection."""
        worker = f"{socket.gethostname()}:{os.getpid()}:{index}"
        try:
            with Store(database_path(self.config)) as store:
                transport = self.make_transport()
                try:
                    self._loop(store, transport, worker)
                finally:
                    transport.close()
        except BaseException as exc:  # handed to the main thread, which re-raises it
            self.fail(exc)
        finally:
            with self._lock:
                self._returned += 1
                if self._returned == self.workers:
                    self.done.set()

    def _loop(self, store: Store, transport: Transport, worker: str) -> None:
        down = 0  # consecutive failures to reach the server
        while not self.stop.is_set():
            batch = store.claim_batch(self.issue, worker, self.settings.batch_size, time.time())
            if not batch:
                left = store.outstanding(self.issue)
                if not left.pending and not left.in_flight:
                    return
                due = (left.next_due or 0) - time.time()
                self.stop.wait(min(max(due, 0.01), 1.0))
                continue
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
            finally:
                store.release(self.issue, worker, [claim.subscriber_id for claim in batch])

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
                    self.limiter.wait(self.stop)
                    if not store.start_attempt(issue, worker, claim.subscriber_id):
                        current = self._prepare(store, claims)  # not ours any more
                        continue
                in_flight = True
                upcoming = self._prepare(store, claims)
                reply = transport.send(Envelope(self.config.from_address, claim.email, data,
                                                dot_safe=True))
                in_flight = False
                if reply.ok and upcoming is not None and not self.limiter.interval \
                        and not self.stop.is_set():
                    started = store.mark_sent_and_start(issue, claim.subscriber_id, str(reply),
                                                        worker, upcoming[0].subscriber_id)
                    current, in_flight = upcoming, started
                    self.count("sent")
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
                self.count("skipped")
                continue
            try:
                return claim, self.template.build(sid, claim.email, claim.name)
            except DeliveryError as exc:
                store.mark_failed(issue, sid, f"not sent: {exc.detail}")
                self.count("failed")
        return None

    def _record(self, store: Store, claim: Claim, reply: Reply) -> None:
        issue, sid, text = self.issue, claim.subscriber_id, str(reply)
        if reply.ok:
            store.mark_sent(issue, sid, text)
            self.count("sent")
        elif reply.permanent:
            store.mark_failed(issue, sid, text, bounced=reply.mailbox_unknown)
            self.count("bounced" if reply.mailbox_unknown else "failed")
        elif claim.attempts + 1 >= self.settings.max_attempts:
            store.mark_failed(issue, sid, f"gave up after {claim.attempts + 1} attempts: {text}")
            self.count("failed")
        else:
            delay = backoff(claim.attempts + 1, self.settings.retry_base, self.settings.retry_cap)
            store.mark_retry(issue, sid, text, time.time() + delay)
            self.count("retries")


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """`kill PID` stops as gently as Ctrl-C (only the main thread may set handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def send_issue(config: Config, date: dt.date, *, transport: str | None = None,
               smtp_url: str | None = None, connections: int | None = None,
               rate: float | None = None, stream: TextIO | None = None,
               tty: bool | None = None) -> SendReport:
    """Send the issue of `date` to every active subscriber it has not reached yet.

    Ctrl-C (or SIGTERM) stops gracefully: messages in flight finish, the rest stays pending,
    `report.interrupted` is set. Running it again resumes.
    """
    issue = date.isoformat()
    template = message_template(config, date)
    make_transport = transport_factory(config, transport, smtp_url=smtp_url,
                                       outbox_folder=config.outbox_path / issue / "sent")
    make_transport().close()  # settings and certificates are checked before anything is queued
    report = SendReport(issue)
    started = time.monotonic()
    with open_store(config) as store, store.send_lock(), _sigterm_as_interrupt():
        report.in_doubt = store.recover(issue)
        report.queued = store.enqueue(issue)
        progress = Progress(store.outstanding(issue).pending, stream, tty=tty,
                            every=config.delivery.log_every)
        if report.in_doubt:
            progress.note(f"{report.in_doubt} message(s) were in flight when the last run "
                          "stopped: sending them again (the server may have had them)")
        run = _Run(config, issue, template, make_transport, progress, report,
                   config.delivery.rate_limit if rate is None else rate)
        run.workers = connections or config.delivery.connections
        for index in range(run.workers):
            threading.Thread(target=run.work, args=(index,), daemon=True,
                             name=f"send-{index}").start()
        # Waiting on an Event, not Thread.join: on Python 3.11 a join interrupted by Ctrl-C
        # can mark a running thread as finished (gh-90882), and its batch would stay claimed.
        try:
            while not run.done.wait(0.2):
                progress.refresh()
        except KeyboardInterrupt:
            report.interrupted = True
            run.stop.set()
            progress.note("stopping: finishing the messages in flight "
                          "(press Ctrl-C again to quit at once)")
            run.done.wait()
        progress.finish()
        report.elapsed = time.monotonic() - started
        report.counts = store.counts(issue)
    if run.error is not None:
        if isinstance(run.error, DeliveryError):
            resume = "run the same command again to resume"
            raise DeliveryError(
                f"{run.error.detail}; {report.sent} sent by this run, "
                f"{report.counts['pending']} left",
                hint=f"{run.error.hint}, then {resume}" if run.error.hint else resume,
            ) from run.error
        raise run.error
    return report


def send_test(config: Config, date: dt.date, address: str, *, transport: str | None = None,
              smtp_url: str | None = None) -> Reply:
    """One copy to `address` (its subscriber's name and link if it is one); records nothing."""
    from .subscribers import normalize_email

    email = normalize_email(address)
    template = message_template(config, date)
    with open_store(config) as store:
        subscriber = store.subscriber(email)
    make_transport = transport_factory(config, transport, smtp_url=smtp_url,
                                       outbox_folder=config.outbox_path / date.isoformat() / "test")
    data = template.build(subscriber.id if subscriber else 0, email,
                          subscriber.name if subscriber else "",
                          message_id=new_message_id(config, dt.datetime.now(dt.UTC)))
    with make_transport() as pusher:
        reply = pusher.send(Envelope(config.from_address, email, data, dot_safe=True))
    if not reply.ok:
        raise DeliveryError(f"the test message to {email} was refused: {reply}")
    return reply


def dry_run(config: Config, date: dt.date) -> Iterator[tuple[str, str, str | None]]:
    """(email, name, problem) of each reader a send would reach now.

    Every message is built, not sent: `problem` says why one would fail (None if it is fine).
    """
    template = message_template(config, date)
    with open_store(config) as store:
        for subscriber in store.recipients(date.isoformat()):
            try:
                template.build(subscriber.id, subscriber.email, subscriber.name)
            except DeliveryError as exc:
                yield subscriber.email, subscriber.name, exc.detail
            else:
                yield subscriber.email, subscriber.name, None


@dataclass
class IssueStatus:
    issue: str
    counts: dict[str, int]
    failed: list[tuple[str, int, str | None]]  # (email, attempts, reply)
    in_doubt: list[str]


def issue_status(config: Config, date: dt.date) -> IssueStatus:
    """The ledger of one issue: counts per state, failed addresses with the server's reply."""
    issue = date.isoformat()
    with open_store(config) as store:
        return IssueStatus(
            issue, store.counts(issue),
            [(email, attempts, reply) for email, _, attempts, reply in store.rows(issue, "failed")],
            [email for email, *_ in store.rows(issue, in_doubt=True)])
