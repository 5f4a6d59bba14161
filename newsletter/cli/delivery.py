"""Commands that deliver: `send` and `status`."""

from __future__ import annotations

import datetime as dt
import sys
from typing import TYPE_CHECKING

import click

from newsletter.cli.context import context_config, issue_date, shown

if TYPE_CHECKING:
    from newsletter.config import Config
    from newsletter.delivery.report import IssueStatus, SendReport


@click.command()
@click.option("--date", "date_text", required=True, metavar="YYYY-MM-DD",
              help="Issue date; seeds/issues/<date>.md is rendered once, in memory.")
@click.option("--transport", type=click.Choice(["outbox", "smtp"]),
              help="outbox: .eml files under outbox/<date>/sent/; smtp: a mail server "
                   "(default: delivery.transport in newsletter.toml).")
@click.option("--smtp-url", metavar="URL",
              help="smtp://user@host:port (STARTTLS when offered) or smtps://user@host:port; "
                   "the password comes from $NEWSLETTER_SMTP_PASSWORD.")
@click.option("--to", "to", metavar="ADDRESS", help="Send one test copy there; record nothing.")
@click.option("--dry-run", is_flag=True, help="List who would get it; send nothing.")
@click.option("--connections", type=click.IntRange(1, 64),
              help="Messages pushed at once (default: delivery.connections).")
@click.option("--rate", type=click.FloatRange(0), metavar="N",
              help="At most N messages per second; 0 for no limit (default: delivery.rate_limit).")
@click.option("--force", is_flag=True,
              help="Send even if `newsletter check --date D` finds errors in the issue, or the "
                   "last issue's complaint rate is at or above bounces.complaint_threshold.")
@click.option("--retry-failed", is_flag=True,
              help="First put the readers it failed for back to pending (not those who "
                   "bounced or unsubscribed), then send as usual.")
@click.pass_context
def send(ctx: click.Context, date_text: str, transport: str | None, smtp_url: str | None,
         to: str | None, dry_run: bool, connections: int | None, rate: float | None,
         force: bool, retry_failed: bool) -> None:
    """Send the issue to every active subscriber it has not reached yet.

    The issue is checked first (as `newsletter check --date D`) and not sent if it has errors,
    unless --force. Each recipient is recorded in the ledger the moment the server accepts the
    message. Ctrl-C stops after the messages in flight; running the same command again
    resumes. With a PostgreSQL database any number of these may run at once, on any
    machines: they share the work, and finish the work of one that dies. Exit codes: 0
    nothing left pending; 75 readers left pending (the mail server or the database could not
    be reached: run it again later); 130 interrupted; 2 a mistake to fix.
    """
    from newsletter.commands import send as delivery

    config, date = context_config(ctx), issue_date(date_text)
    if to:
        reply = delivery.send_test(config, date, to, transport=transport, smtp_url=smtp_url)
        click.echo(f"test copy sent to {to}: {reply}")
        return
    if dry_run:
        count = 0
        for email, name, problem in delivery.dry_run(config, date):
            line = f"{email}\t{shown(name)}" if name else email
            click.echo(f"{line}\t(would fail: {problem})" if problem else line)
            count += 1
        click.echo(f"dry run: {count} subscriber(s) would get the {date_text} issue; "
                   "nothing sent", err=True)
        return
    _check_first(config, date, force)
    from newsletter.commands.bounces import complaint_guard

    warning = complaint_guard(config, date, force)
    if warning:
        click.echo(warning, err=True)
    report = delivery.send_issue(config, date, transport=transport, smtp_url=smtp_url,
                                 connections=connections, rate=rate, stream=sys.stderr,
                                 retry_failed=retry_failed)
    if retry_failed:
        click.echo(f"--retry-failed: {report.retried_failed} failed reader(s) put back to "
                   "pending", err=True)
    if report.nothing_to_send:
        click.echo(f"{date_text}: nothing to send ({report.counts['sent']} sent before)")
        return
    _summary(date_text, report)
    if report.interrupted:
        click.echo("interrupted: run the same command again to resume", err=True)
        ctx.exit(130)


def _check_first(config: Config, date: dt.date, force: bool) -> None:
    """Refuse an issue with check errors (the findings listed on stderr) unless --force."""
    from newsletter.commands.send import CheckFailed, check_before_sending
    from newsletter.lint.report import finding_lines

    try:
        report = check_before_sending(config, date, force=force)
    except CheckFailed as exc:
        for line in finding_lines(exc.report):
            click.echo(line, err=True)
        raise
    if report.errors:
        click.echo(f"--force: sending although `newsletter check` finds {report.errors} "
                   "error(s) in the issue", err=True)


def _summary(date_text: str, report: SendReport) -> None:
    counts = report.counts
    rate_now = report.sent / report.elapsed if report.elapsed else 0.0
    click.echo(f"{date_text}: {report.sent} sent, {report.failed} failed, {report.bounced} "
               f"bounced, {report.skipped} skipped, {report.retries} retried, in "
               f"{report.elapsed:.1f} s ({rate_now:,.0f} msg/s)")
    if report.in_doubt:
        click.echo(f"{report.in_doubt} in doubt: in flight when a run stopped or a worker "
                   "was lost, sent again (each may have arrived twice)")
    click.echo(f"ledger: {counts['sent']} sent, {counts['pending']} pending, "
               f"{counts['failed']} failed, {counts['skipped']} skipped")


@click.command()
@click.option("--date", "date_text", required=True, metavar="YYYY-MM-DD", help="Issue date.")
@click.pass_context
def status(ctx: click.Context, date_text: str) -> None:
    """Show how far the issue's send got: sent, pending, in doubt, failed (with replies)."""
    from newsletter.commands.bounces import issue_rates
    from newsletter.commands.send import issue_status

    config, date = context_config(ctx), issue_date(date_text)
    report = issue_status(config, date)
    counts = report.counts
    click.echo(f"{report.issue}: {counts['sent']} sent, "
               f"{counts['pending'] + counts['claimed']} pending, "
               f"{counts['sending']} sending (in doubt unless a send is running), "
               f"{counts['failed']} failed, {counts['skipped']} skipped")
    click.echo(issue_rates(config, date).line())
    _workers(report)
    if report.in_doubt:
        click.echo(f"{len(report.in_doubt)} sent again after a stopped run "
                   "(may have arrived twice): " + ", ".join(report.in_doubt))
    for email, attempts, reply in report.failed:
        click.echo(f"failed  {email}  ({attempts} attempt(s)): {reply}")
    if report.failed:
        click.echo(f"send to them again: newsletter send --date {date_text} --retry-failed")


def _workers(report: IssueStatus) -> None:
    """The send processes working on the issue: live, or lost (their rows are taken over)."""
    if not report.workers:
        return
    live = sum(worker.state == "live" for worker in report.workers)
    click.echo(f"workers: {live} live, {len(report.workers) - live} lost")
    for worker in report.workers:
        lost = " (lease ran out: the others take its rows over)" if worker.state == "lost" \
            else ""
        click.echo(f"  {worker.state:<4}  {worker.host} pid {worker.pid}: {worker.sent} sent, "
                   f"{worker.failed} failed, heartbeat {worker.heartbeat_age:.1f} s ago{lost}")
