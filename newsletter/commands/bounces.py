"""`newsletter bounces`: returned mail and complaints applied to the list; rates, the guard.

Each message of the bounce mailbox is classified (delivery/bounces.py) and attributed to a
reader by its signed VERP return path, or else by the signed unsubscribe link it returns:
an unsigned address in a report is never trusted, so a forged report cannot remove anyone.
A hard bounce marks the reader bounced; soft bounces of `bounces.soft_limit` issues in a row
do too; a complaint unsubscribes them. Only an active reader's status changes. Each report is
recorded once, under its Message-ID (or its hash), and put away; a second run changes nothing.
A message that is neither, or names no reader of ours, is left in place and reported.
"""

from __future__ import annotations

import datetime as dt
import email.parser
import email.policy
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from newsletter.audience.tokens import signer_for
from newsletter.config import Config
from newsletter.delivery.bounce_settings import BounceSettings
from newsletter.delivery.bounces import BounceEvent, Kind, Verifiers, bounce_signer, classify
from newsletter.delivery.mailboxes import IMAPBox, Mailbox, MaildirBox
from newsletter.errors import DeliveryError, UsageError
from newsletter.mail.headers import bounce_address
from newsletter.store import open_store
from newsletter.store.base import Store

_KINDS = {Kind.HARD: "hard", Kind.SOFT: "soft", Kind.COMPLAINT: "complaint"}
# Our own Message-ID, <YYYYMMDD.<reader mark>.<list tag>@domain> (mail/template.py).
_OUR_MESSAGE_ID = re.compile(r"<(\d{4})(\d{2})(\d{2})\.[0-9a-z]+\.[0-9a-f]{10}@[^>]+>")


def bounce_settings(config: Config) -> BounceSettings:
    """[bounces] of newsletter.toml, or the defaults."""
    settings = getattr(config, "bounces", None)
    return settings if isinstance(settings, BounceSettings) else BounceSettings()


@dataclass
class BounceRun:
    """What one run of `newsletter bounces` found and did."""

    mailbox: str
    hard: int = 0  # new reports of each kind
    soft: int = 0
    complaints: int = 0
    delayed: int = 0  # delay notices: put away, nothing failed yet
    already: int = 0  # reports recorded before (seen again): put away, nothing changed
    ignored: int = 0  # about a reader since forgotten
    bounced: list[str] = field(default_factory=list)  # addresses marked bounced now
    unsubscribed: list[str] = field(default_factory=list)
    left: list[tuple[str, str]] = field(default_factory=list)  # (where, why) left in place

    @property
    def processed(self) -> int:
        return self.hard + self.soft + self.complaints + self.delayed + self.already \
            + self.ignored


def verifiers(config: Config) -> Verifiers:
    """How reports are trusted: this list's VERP and unsubscribe signatures."""
    local = bounce_address(config).rpartition("@")[0]
    return Verifiers(bounce_signer(config).verify, signer_for(config).verify, local_part=local)


def open_mailbox(config: Config, *, maildir: Path | None = None,
                 imap_url: str | None = None) -> Mailbox:
    """The mailbox to read: --maildir, else --imap, else bounces.imap_url."""
    settings = bounce_settings(config)
    if maildir is not None and imap_url:
        raise UsageError("give --maildir or --imap, not both")
    if maildir is not None:
        return MaildirBox(maildir, settings.processed_folder)
    url = imap_url or settings.imap_url
    if not url:
        raise UsageError("no bounce mailbox to read",
                         hint="give --maildir DIR or --imap imaps://user@host/INBOX, or set "
                              "bounces.imap_url in newsletter.toml")
    ca_file = config.resolve(settings.imap_ca_file) if settings.imap_ca_file else None
    return IMAPBox(url, settings.processed_folder, ca_file=ca_file)


def process_bounces(config: Config, box: Mailbox,
                    settings: BounceSettings | None = None) -> BounceRun:
    """Apply every report in `box` to the list, putting away each one processed."""
    settings = settings or bounce_settings(config)
    trust = verifiers(config)
    run = BounceRun(box.name)
    with open_store(config) as store:
        for item in box.items():
            why = _apply(store, classify(item.data, trust), _key(item.data), settings, run)
            if why:
                run.left.append((item.where, why))
            else:
                box.done(item)
    return run


def _key(data: bytes) -> str:
    """What makes a report one report: its Message-ID, else the hash of its bytes."""
    head = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(data)
    message_id = " ".join(str(head.get("message-id", "")).split())
    if message_id and len(message_id) <= 900:
        return f"mid:{message_id}"
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def _why_left(event: BounceEvent) -> str | None:
    if event.kind is Kind.UNCLASSIFIABLE:
        what = f" (feedback type {event.reason})" if event.reason else ""
        return f"neither a bounce nor a complaint{what}"
    if event.subscriber_id is None:
        return (f"a {_KINDS[event.kind]} report naming none of our readers: no signed return "
                "path or unsubscribe link in it")
    return None


def _apply(store: Store, event: BounceEvent, key: str, settings: BounceSettings,
           run: BounceRun) -> str | None:
    """One report's effect on the list; why it is left in place, or None once applied."""
    why = _why_left(event)
    if why or event.subscriber_id is None:
        return why
    subscriber = store.subscriber(id=event.subscriber_id)
    if subscriber is None:  # forgotten since (`subscribers remove --forget`)
        run.ignored += 1
        return None
    if event.delayed:
        run.delayed += 1
        return None
    kind, issue = _KINDS[event.kind], event.issue or _issue_of(event)
    if not store.record_bounce(key, issue, subscriber.id, kind, event.status):
        run.already += 1
    elif kind == "hard":
        run.hard += 1
    elif kind == "soft":
        run.soft += 1
    else:
        run.complaints += 1
    leaves = kind == "hard" or (kind == "soft" and store.soft_bounces_in_a_row(
        subscriber.id, issue) >= settings.soft_limit)
    status = "unsubscribed" if kind == "complaint" else "bounced" if leaves else None
    # Only an active reader changes: a second report (or run) finds nothing to do.
    if status and subscriber.status == "active":
        store.set_status(subscriber.id, status)
        (run.bounced if status == "bounced" else run.unsubscribed).append(subscriber.email)
    return None


def _issue_of(event: BounceEvent) -> str | None:
    """The issue in our own returned Message-ID, when the report has no VERP address."""
    found = _OUR_MESSAGE_ID.fullmatch(event.message_id or "")
    if not found:
        return None
    try:
        return dt.date(int(found[1]), int(found[2]), int(found[3])).isoformat()
    except ValueError:
        return None


@dataclass(frozen=True)
class IssueRates:
    """Bounces and complaints of one issue, over the messages its send delivered."""

    issue: str
    sent: int
    hard: int
    soft: int
    complaints: int

    @property
    def bounce_rate(self) -> float:
        return (self.hard + self.soft) / self.sent if self.sent else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complaints / self.sent if self.sent else 0.0

    def line(self) -> str:
        """One line for `newsletter status`."""
        return (f"bounces: {self.hard} hard, {self.soft} soft ({self.bounce_rate:.2%} of "
                f"{self.sent} sent); complaints: {self.complaints} "
                f"({self.complaint_rate:.2%})")


def _rates(store: Store, issue: str) -> IssueRates:
    kinds = store.bounce_rates(issue)
    return IssueRates(issue, store.counts(issue)["sent"], kinds["hard"], kinds["soft"],
                      kinds["complaint"])


def issue_rates(config: Config, date: dt.date) -> IssueRates:
    """The bounce and complaint rates of the issue of `date`."""
    with open_store(config) as store:
        return _rates(store, date.isoformat())


def complaint_guard(config: Config, date: dt.date, force: bool = False) -> str | None:
    """Refuse to start a new issue while the last one's complaint rate is at or above
    `bounces.complaint_threshold` (DeliveryError); with `force`, the warning to show.

    Resuming an issue already started is not starting one: never refused.
    """
    issue, threshold = date.isoformat(), bounce_settings(config).complaint_threshold
    with open_store(config) as store:
        if any(store.counts(issue).values()):
            return None
        last = store.last_issue(issue)
        rates = _rates(store, last) if last else None
    if rates is None or not rates.sent or rates.complaint_rate < threshold:
        return None
    problem = (f"the {rates.issue} issue's complaint rate is {rates.complaint_rate:.2%} "
               f"({rates.complaints} of {rates.sent}), at or above "
               f"bounces.complaint_threshold ({threshold:.2%})")
    if force:
        return f"--force: sending although {problem}"
    raise DeliveryError(f"{problem}; nothing sent", code="complaint-rate",
                        hint="find out why readers report it as spam (the list's consent, the "
                             "unsubscribe link, the content), or add --force")
