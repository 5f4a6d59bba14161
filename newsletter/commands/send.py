"""`newsletter send` and `newsletter status`: an issue to every reader it has not reached."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from functools import partial
from typing import TextIO

from newsletter.audience.addresses import normalize_email
from newsletter.audience.tokens import signer_for
from newsletter.commands.signals import sigterm_as_interrupt
from newsletter.config import Config, rate_problem
from newsletter.content.readers import load_content
from newsletter.delivery.leases import lease_seconds
from newsletter.delivery.manager import SendRun, run_workers
from newsletter.delivery.progress import Progress
from newsletter.delivery.report import IssueStatus, SendReport
from newsletter.delivery.transports import Envelope, Reply, transport_factory
from newsletter.errors import DeliveryError, UsageError
from newsletter.lint.report import CheckReport
from newsletter.lint.runner import run_check
from newsletter.mail.archive import new_message_id
from newsletter.mail.dkim import signer_for as dkim_signer_for
from newsletter.mail.template import MessageTemplate
from newsletter.render.issue import Rendered, render_issue
from newsletter.store import open_store


def render_for_sending(config: Config, date: dt.date) -> Rendered:
    """Render the issue file for `date` once, in memory (composed or not, nothing written)."""
    content = load_content(config.resolve(config.content_dir), tracks=config.tracks)
    issue = content.issues.get(date)
    if issue is None:
        raise _no_issue(config, date)
    return render_issue(issue, content.papers_of(issue, config.papers_dir), config)


def message_template(config: Config, date: dt.date, *, signed: bool = True) -> MessageTemplate:
    """The issue's messages; DKIM-signed when keys are configured (a bad key stops here,
    before anything is queued). `signed=False` still checks the keys but signs nothing."""
    from newsletter.delivery.bounces import bounce_signer  # flufl.bounce: only when sending

    dkim = dkim_signer_for(config)
    return MessageTemplate(render_for_sending(config, date), config, date,
                           signer_for(config).token, dt.datetime.now(dt.UTC),
                           sign=dkim.sign if dkim and signed else None,
                           verp=bounce_signer(config).token)


def _no_issue(config: Config, date: dt.date) -> DeliveryError:
    return DeliveryError(f"no issue for {date.isoformat()}", path=config.issue_path(date),
                         hint=f"run `newsletter compose --date {date.isoformat()}` and "
                              "review the issue first")


class CheckFailed(DeliveryError):
    """`newsletter check --date D` finds errors in the issue: it is not sent."""

    def __init__(self, date: dt.date, report: CheckReport) -> None:
        self.report = report
        super().__init__(f"the {date.isoformat()} issue has {report.errors} error(s) from "
                         "`newsletter check`; nothing sent",
                         hint="fix them, or add --force to send it anyway", code="check-failed")


def check_before_sending(config: Config, date: dt.date, *, force: bool = False) -> CheckReport:
    """The findings of `newsletter check --date D`; CheckFailed on any error unless `force`.

    Only an issue file is sent (never a draft), so a date without one is refused first.
    """
    if not config.issue_path(date).is_file():
        raise _no_issue(config, date)
    report = run_check(config, date)
    if report.errors and not force:
        raise CheckFailed(date, report)
    return report


def send_issue(config: Config, date: dt.date, *, transport: str | None = None,
               smtp_url: str | None = None, connections: int | None = None,
               rate: float | None = None, stream: TextIO | None = None,
               tty: bool | None = None, retry_failed: bool = False) -> SendReport:
    """Send the issue of `date` to every active subscriber it has not reached yet.

    Ctrl-C (or SIGTERM) stops gracefully: messages in flight finish, the rest stays pending,
    `report.interrupted` is set. Running it again resumes. On PostgreSQL any number of
    these may run at once, on any machines: they share the work (delivery/leases.py).
    `retry_failed` first puts the failed readers (not bounced, not unsubscribed) back.
    """
    problem = None if rate is None else rate_problem(rate)
    if problem:
        raise UsageError(f"--rate {problem}")
    lease = lease_seconds(config.delivery)
    template = message_template(config, date)
    make_transport = transport_factory(config, transport, smtp_url=smtp_url,
                                       outbox_folder=config.issue_outbox(date) / "sent")
    make_transport().close()  # settings and certificates are checked before anything is queued
    progress = Progress(0, stream, tty=tty, every=config.delivery.log_every,
                        seconds=config.delivery.log_seconds)
    run = SendRun(date.isoformat(), template, config.from_address, partial(open_store, config),
                  make_transport, config.delivery,
                  config.delivery.rate_limit if rate is None else rate, progress, lease)
    with open_store(config) as store, store.send_lock(), sigterm_as_interrupt():
        return run_workers(run, store, connections or config.delivery.connections,
                           retry_failed=retry_failed)


def send_test(config: Config, date: dt.date, address: str, *, transport: str | None = None,
              smtp_url: str | None = None) -> Reply:
    """One copy to `address` (its subscriber's name and link if it is one); records nothing."""
    email = normalize_email(address)
    template = message_template(config, date)
    with open_store(config) as store:
        subscriber = store.subscriber(email)
    make_transport = transport_factory(config, transport, smtp_url=smtp_url,
                                       outbox_folder=config.issue_outbox(date) / "test")
    data = template.build(subscriber.id if subscriber else 0, email,
                          subscriber.name if subscriber else "",
                          message_id=new_message_id(config, dt.datetime.now(dt.UTC)))
    with make_transport() as pusher:
        reply = pusher.send(Envelope(template.envelope_sender(None), email, data,
                                     dot_safe=True))
    if not reply.ok:
        raise DeliveryError(f"the test message to {email} was refused: {reply}")
    return reply


def dry_run(config: Config, date: dt.date) -> Iterator[tuple[str, str, str | None]]:
    """(email, name, problem) of each reader a send would reach now.

    Every message is built, not sent: `problem` says why one would fail (None if it is fine).
    """
    template = message_template(config, date, signed=False)
    with open_store(config) as store:
        for subscriber in store.recipients(date.isoformat()):
            try:
                template.build(subscriber.id, subscriber.email, subscriber.name)
            except DeliveryError as exc:
                yield subscriber.email, subscriber.name, exc.detail
            else:
                yield subscriber.email, subscriber.name, None


def issue_status(config: Config, date: dt.date) -> IssueStatus:
    """The ledger of one issue: counts per state, failed addresses with the server's reply,
    and the send processes working on it (live, or lost with their rows not yet taken over)."""
    issue = date.isoformat()
    with open_store(config) as store:
        return IssueStatus(
            issue, store.counts(issue),
            [(email, attempts, reply) for email, _, attempts, reply in store.rows(issue, "failed")],
            [email for email, *_ in store.rows(issue, in_doubt=True)],
            store.workers(issue))
