"""Delivery: building messages, sending over SMTP against Postfix's C tools, memory, CSV import.

The SMTP figures use Postfix's `smtp-sink` as the server for both sides, in the same run:
`smtp-source -s 8 -d` (C, eight sessions, connections kept open) and `newsletter send` (whole
process: render, ledger, SMTP), with messages of the same size.
"""

from __future__ import annotations

import datetime as dt
import email
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from newsletter.commands.send import message_template
from newsletter.config import Config, load_config
from newsletter.mail.archive import new_message_id
from newsletter.mail.headers import list_id, sender
from newsletter.mail.template import MessageTemplate
from newsletter.render.greeting import greeting
from newsletter.render.issue import Rendered
from newsletter.store import open_store

from . import postfix_tools
from .measure import Figure, duplicate_window, summarize
from .postfix_tools import SMTP_SINK, SMTP_SOURCE

DATE = "2025-11-28"
CONNECTIONS = 4
# Names with accents and quotes exercise the encoded-word and quoting paths of To.
NAMES = ("Ada Lovelace", "Zoë Ångström", 'Grace "Amazing" Hopper', "", "Edsger W. Dijkstra")


def reader(index: int) -> tuple[str, str]:
    return f"reader{index}@example.org", NAMES[index % len(NAMES)]


def write_csv(path: Path, count: int) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write("email,name\n")
        for index in range(count):
            address, name = reader(index)
            handle.write(f'{address},"{name.replace(chr(34), chr(34) * 2)}"\n')
    return path


def newsletter_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "newsletter", *args]


# Linux carries a process's peak RSS across fork and exec, so a child of this (large) bench
# process would report at least our own peak. A small launcher forks the measured command.
_LAUNCHER = """import os, subprocess, sys, time
start = time.perf_counter()
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
elapsed = time.perf_counter() - start
with open(sys.argv[1], "w") as out:
    out.write(f"{elapsed} {usage.ru_maxrss}")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_process(command: list[str], cwd: Path) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one whole process, from fork to exit; it must succeed."""
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("NEWSLETTER_")}
    with tempfile.TemporaryFile() as output, tempfile.NamedTemporaryFile("r") as peak:
        process = subprocess.run([sys.executable, "-S", "-c", _LAUNCHER, peak.name, *command],
                                 cwd=cwd, env=environment, stdout=output,
                                 stderr=subprocess.STDOUT)
        if process.returncode != 0:
            output.seek(0)
            raise SystemExit(f"bench: {' '.join(command)} failed ({process.returncode}):\n"
                             f"{output.read().decode(errors='replace')}")
        elapsed, kilobytes = peak.read().split()
        return float(elapsed), int(kilobytes) / 1024


def subscribed_project(root: Path, count: int) -> Path:
    """`root` with `count` subscribers imported; returns the pristine database (no ledger)."""
    config = load_config(root / "newsletter.toml")
    database = config.database_path
    database.unlink(missing_ok=True)
    run_process(newsletter_command("subscribers", "import",
                                   str(write_csv(root / "readers.csv", count))), root)
    pristine = root / f"subscribers-{count}.sqlite3"
    shutil.copy(database, pristine)
    return pristine


def reset_ledger(root: Path, pristine: Path) -> None:
    config = load_config(root / "newsletter.toml")
    database = config.database_path
    for leftover in database.parent.glob(database.name + "*"):
        leftover.unlink()
    shutil.copy(pristine, database)


def check_ledger(config: Config, count: int) -> None:
    with open_store(config) as store:
        counts = store.counts(DATE)
    if counts["sent"] != count or counts["pending"] or counts["failed"]:
        raise SystemExit(f"bench: the send did not reach everyone: {counts}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def smtp_source(port: int, size: int, count: int) -> list[str]:
    """Postfix's C client, the other side of the SMTP comparisons: eight sessions kept open,
    `count` messages of `size` bytes."""
    return [SMTP_SOURCE, "-s", "8", "-d", "-l", str(size), "-m", str(count),
            "-f", "bench@example.org", "-t", "sink@example.org", f"127.0.0.1:{port}"]


def wait_for_port(port: int, server: subprocess.Popen, name: str) -> None:
    """Until `server` accepts connections on the loopback `port`; SystemExit if it dies or
    does not within 10 s (with what it wrote to a piped stderr)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                said = server.stderr.read().decode() if server.stderr else ""
                raise SystemExit(f"bench: {name} did not start: {said}") from None
            time.sleep(0.05)


@contextmanager
def smtp_sink() -> Iterator[int]:
    """Postfix's smtp-sink on a free loopback port; yields the port."""
    postfix_tools.ensure_installed()
    port = free_port()
    command = [SMTP_SINK, f"127.0.0.1:{port}", "1000"]
    if os.geteuid() == 0:
        command[1:1] = ["-u", "nobody"]
    sink = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, sink, "smtp-sink")
        yield port
    finally:
        sink.terminate()
        sink.wait(10)
        sink.stderr.close()


def _template(config: Config) -> MessageTemplate:
    return message_template(config, dt.date.fromisoformat(DATE))


def _email_message_way(template: MessageTemplate, config: Config, index: int,
                       rendered: Rendered) -> bytes:
    """The straightforward way: one EmailMessage per reader, personalised, then as_bytes."""
    address, name = reader(index)
    url = template.unsubscribe_url(index + 1)
    hello = greeting(name, config.greeting_name)
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = sender(config)
    message["To"] = f"{name} <{address}>" if name else address
    message["Subject"] = "Research Update"
    message["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    message["Message-ID"] = new_message_id(config, dt.datetime.now(dt.UTC))
    message["List-Id"] = f"<{list_id(config)}>"
    message["List-Unsubscribe"] = f"<{url}>, <mailto:{config.from_address}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    html, text = rendered.personalize(hello, url)
    message.set_content(text, charset="utf-8", cte="quoted-printable")
    message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return message.as_bytes()


def check_messages(template: MessageTemplate, messages: list[tuple[int, bytes]]) -> None:
    """Parse built messages back with `email`: headers, both parts, the reader's own link."""
    for index, data in messages:
        address, name = reader(index)
        message = email.message_from_bytes(data, policy=policy.default)
        problems = list(message.defects)
        to = message["To"]
        if to.addresses[0].addr_spec != address or to.addresses[0].display_name != name:
            problems.append(f"To is {to!r}")
        url = template.unsubscribe_url(index + 1)
        if f"<{url}>" not in str(message["List-Unsubscribe"]):
            problems.append("List-Unsubscribe lacks the reader's link")
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        if url not in text or url.replace("&", "&amp;") not in html:
            problems.append("a body lacks the unsubscribe link")
        if greeting(name, "first") not in text:
            problems.append("the text part lacks the reader's name")
        for part in message.walk():
            problems += part.defects
        if problems:
            raise SystemExit(f"bench: message {index} is not valid MIME: {problems}")


def bench_build(root: Path, count: int, baseline_count: int, runs: int) -> list[Figure]:
    """Per-reader messages from the template, against one EmailMessage per reader."""
    config = load_config(root / "newsletter.toml")
    template = _template(config)
    readers = [(index + 1, *reader(index)) for index in range(count)]
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        for subscriber_id, address, name in readers:
            template.build(subscriber_id, address, name)
        rates.append(count / (time.perf_counter() - start))
    sample = [(index, template.build(index + 1, *reader(index)))
              for index in range(0, count, max(1, count // 200))]
    check_messages(template, sample)
    size = sum(len(data) for _, data in sample) // len(sample)
    ours = summarize(f"build messages ({count:,} readers, {size / 1024:.0f} KB each)",
                     "msg/s", rates)
    from newsletter.commands.send import render_for_sending

    rendered = render_for_sending(config, dt.date.fromisoformat(DATE))
    baseline = []
    for _ in range(runs):
        start = time.perf_counter()
        for index in range(baseline_count):
            _email_message_way(template, config, index, rendered)
        baseline.append(baseline_count / (time.perf_counter() - start))
    theirs = summarize("build messages, one EmailMessage each", "msg/s", baseline)
    ours.extra.update(ratio=ours.median / theirs.median, size=size, checked=len(sample))
    ours.note = (f"{ours.extra['ratio']:.0f}x the EmailMessage way; {len(sample)} parsed back "
                 "with `email`, valid (target >= 20,000/s)")
    return [ours, theirs]


def message_size(root: Path) -> int:
    config = load_config(root / "newsletter.toml")
    return len(_template(config).build(1, *reader(0)))


def bench_smtp(root: Path, count: int, runs: int) -> list[Figure]:
    """`newsletter send` into smtp-sink against smtp-source -s 8 -d into the same sink."""
    config = load_config(root / "newsletter.toml")
    pristine = subscribed_project(root, count)
    size = message_size(root)
    ours, theirs = [], []
    with smtp_sink() as port:
        for _ in range(runs):
            seconds, _ = run_process(smtp_source(port, size, count), root)
            theirs.append(count / seconds)
            reset_ledger(root, pristine)
            # --force: the bundled 2025-11-28 issue repeats a paper, which `newsletter check`
            # reports, so `send` refuses it without.
            seconds, _ = run_process(newsletter_command(
                "send", "--date", DATE, "--transport", "smtp", "--force",
                "--smtp-url", f"smtp://127.0.0.1:{port}", "--connections", str(CONNECTIONS)),
                root)
            check_ledger(config, count)
            ours.append(count / seconds)
    sent = summarize(f"send {count:,} over SMTP into smtp-sink, whole process "
                     f"({CONNECTIONS} connections, ledger on)", "msg/s", ours)
    source = summarize(f"smtp-source -s 8 -d, {size / 1024:.0f} KB messages, same sink",
                       "msg/s", theirs)
    sent.extra["ratio"] = sent.median / source.median
    sent.note = f"{sent.extra['ratio']:.2f} of smtp-source (target >= 0.5)"
    return [sent, source]


def bench_memory(root: Path, small: int, large: int, runs: int) -> list[Figure]:
    """Peak RSS of a whole `newsletter send` to `small` and to `large` readers."""
    config = load_config(root / "newsletter.toml")
    figures = []
    with smtp_sink() as port:
        for count in (small, large):
            pristine = subscribed_project(root, count)
            peaks = []
            for _ in range(runs):
                reset_ledger(root, pristine)
                _, peak = run_process(newsletter_command(
                    "send", "--date", DATE, "--transport", "smtp", "--force",
                    "--smtp-url", f"smtp://127.0.0.1:{port}", "--connections",
                    str(CONNECTIONS)), root)
                check_ledger(config, count)
                peaks.append(peak)
            figures.append(summarize(f"peak RSS, send to {count:,}", "MB", peaks))
            pristine.unlink()
    ratio = figures[1].median / figures[0].median
    figures[1].extra["ratio"] = ratio
    figures[1].note = (f"{ratio:.2f}x the send to {small:,} (target <= 1.2, "
                       "and < 150 MB)")
    return figures


def bench_import(root: Path, count: int, runs: int) -> list[Figure]:
    """`newsletter subscribers import` of a fresh CSV into a fresh database, whole process."""
    config = load_config(root / "newsletter.toml")
    database = config.database_path
    csv_file = write_csv(root / "import.csv", count)
    rates = []
    for _ in range(runs):
        for leftover in database.parent.glob(database.name + "*"):
            leftover.unlink()
        seconds, _ = run_process(newsletter_command("subscribers", "import", str(csv_file)),
                                 root)
        rates.append(count / seconds)
    with open_store(config) as store:
        if store.count_subscribers("active") != count:
            raise SystemExit("bench: the import did not add every row")
    figure = summarize(f"subscribers import, {count:,} CSV rows, whole process", "rows/s", rates)
    figure.note = "target >= 50,000 rows/s (listmonk advertises about 10,000/s)"
    return [figure]


def bench_duplicate_window(root: Path, count: int) -> list[Figure]:
    """Time from the server's final reply being read to the commit that marks the row sent.

    A kill -9 inside this window is the only way a reader can get an issue twice. Measured
    in process on a real send into smtp-sink, by timing around the transport and the store.
    """
    from newsletter.commands import send as delivery
    from newsletter.store.sqlite import SQLiteStore

    config = load_config(root / "newsletter.toml")
    reset_ledger(root, subscribed_project(root, count))
    with duplicate_window(SQLiteStore) as windows, smtp_sink() as port, \
            open(os.devnull, "w") as quiet:
        delivery.send_issue(config, dt.date.fromisoformat(DATE), transport="smtp",
                            smtp_url=f"smtp://127.0.0.1:{port}", connections=CONNECTIONS,
                            stream=quiet, tty=False)
    if len(windows) != count:
        raise SystemExit(f"bench: {len(windows)} of {count} sends were timed")
    check_ledger(config, count)
    figure = summarize(f"duplicate window: reply read to 'sent' committed ({count:,} sends)",
                       "µs", windows)
    figure.note = f"99th percentile {sorted(windows)[int(len(windows) * 0.99)]:.0f} µs"
    return [figure]
