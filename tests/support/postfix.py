"""A real Postfix for the tests: Debian's daemon, configured in a temporary folder.

`running_postfix()` writes main.cf and master.cf into a new temporary folder (the
configuration, queue and data directories all live there), starts `postfix -c FOLDER start`
as an SMTP server on 127.0.0.1 only, on a free port, and always stops it. It delivers mail
for one test domain (`news.test`, or `domain=`: a list's own domain, say example.org, whose
addresses the address checks accept) to Maildirs under FOLDER/mail/, one per user, through
virtual(8); mail for any other domain is bounced, never relayed (no DNS, no outside
delivery). Mail to an unknown user of the test domain is accepted and then bounced by
Postfix itself, so a real DSN (RFC 3464) goes to the envelope sender. `gone.test`
recipients fail permanently (5.1.1) and `full.test` ones temporarily (4.2.2), after
acceptance, as a remote server would.

Postfix's master must run as root: without root, or without the postfix package, the
harness fails loudly (the tests never skip).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

POSTFIX = "/usr/sbin/postfix"
DAEMONS = "/usr/lib/postfix/sbin"
DOMAIN = "news.test"
USERS = ("ada", "grace", "alan", "bounces", "editor")
MAILBOX_OWNER = "nobody"  # Maildirs are written by virtual(8) as this user
_SERVICES = """\
{port} inet n - n - - smtpd
pickup    unix  n       -       n       1       1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _main_cf(folder: Path, owner: pwd.struct_passwd, domain: str = DOMAIN) -> str:
    settings = {
        "compatibility_level": "3.6",
        "queue_directory": folder / "queue",
        "data_directory": folder / "data",
        "maillog_file": folder / "maillog",
        "maillog_file_prefixes": folder,
        "daemon_directory": DAEMONS,
        "command_directory": "/usr/sbin",
        "mail_owner": "postfix",
        "setgid_group": "postdrop",
        "inet_interfaces": "127.0.0.1",
        "inet_protocols": "ipv4",
        "myhostname": f"mx.{domain}",
        "mydomain": domain,
        "myorigin": domain,
        "mydestination": "",
        "mynetworks": "127.0.0.0/8",
        "relayhost": "",
        "relay_domains": "",
        # Nothing leaves this machine: no DNS, and any other domain is an error.
        "smtp_dns_support_level": "disabled",
        "smtpd_peername_lookup": "no",
        "default_transport": "error:5.7.1 this test server delivers nowhere else",
        "local_transport": "error:5.7.1 no local delivery",
        "transport_maps": f"texthash:{folder / 'transport'}",
        "alias_maps": "",
        "alias_database": "",
        "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
        "smtpd_recipient_restrictions": "permit_mynetworks, reject",
        "virtual_mailbox_domains": f"{domain}, gone.test, full.test",
        "virtual_mailbox_base": folder / "mail",
        "virtual_mailbox_maps": f"texthash:{folder / 'mailboxes'}",
        "virtual_uid_maps": f"static:{owner.pw_uid}",
        "virtual_gid_maps": f"static:{owner.pw_gid}",
        "virtual_minimum_uid": "1",
        # Accept unknown users, then bounce: Postfix itself writes the DSN to the sender.
        "smtpd_reject_unlisted_recipient": "no",
        "recipient_delimiter": "+",  # bounces+<verp>@ is delivered to bounces@
        "biff": "no",
        "message_size_limit": "10240000",
        # Quick retries and delay notices, so a temporary failure makes a "delayed" DSN.
        "queue_run_delay": "1s",
        "minimal_backoff_time": "1s",
        "maximal_backoff_time": "2s",
        "delay_warning_time": "1s",
        "bounce_queue_lifetime": "1h",
        "maximal_queue_lifetime": "1h",
        "import_environment": "MAIL_CONFIG MAIL_DEBUG TZ LANG=C",
    }
    return "".join(f"{name} = {value}\n" for name, value in settings.items())


class Postfix:
    """A configured Postfix folder; `start()` and `stop()` the daemon, read its Maildirs."""

    def __init__(self, folder: Path, users: tuple[str, ...] = USERS,
                 domain: str = DOMAIN) -> None:
        if not os.access(POSTFIX, os.X_OK) or not Path(DAEMONS, "master").exists():
            raise RuntimeError(f"{POSTFIX} is missing: install Debian's postfix package "
                               "(apt-get install postfix); the tests need the daemon")
        if os.geteuid() != 0:
            raise RuntimeError("the Postfix tests must run as root (Postfix's master does)")
        self.folder, self.users, self.domain = folder, users, domain
        self.host, self.port = "127.0.0.1", free_port()
        self.owner = pwd.getpwnam(MAILBOX_OWNER)
        self._write_config()

    def _write_config(self) -> None:
        folder = self.folder
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("queue", "data", "mail"):
            (folder / name).mkdir(exist_ok=True)
        os.chown(folder / "mail", self.owner.pw_uid, self.owner.pw_gid)
        postfix_user = pwd.getpwnam("postfix")
        os.chown(folder / "data", postfix_user.pw_uid, postfix_user.pw_gid)
        (folder / "main.cf").write_text(_main_cf(folder, self.owner, self.domain))
        (folder / "master.cf").write_text(_SERVICES.format(port=f"127.0.0.1:{self.port}"))
        (folder / "mailboxes").write_text(
            "".join(f"{user}@{self.domain} {user}/\n" for user in self.users))
        (folder / "transport").write_text(
            "gone.test error:5.1.1 <gone.test>: mailbox unavailable (the test's remote)\n"
            "full.test retry:4.2.2 mailbox full (the test's remote)\n")

    def address(self, user: str) -> str:
        return f"{user}@{self.domain}"

    def maildir(self, user: str) -> Path:
        return self.folder / "mail" / user

    def _postfix(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([POSTFIX, "-c", str(self.folder), *args], capture_output=True,
                              text=True, timeout=60)

    def start(self) -> None:
        """Start the daemon and wait until its SMTP server greets on 127.0.0.1:port."""
        started = self._postfix("start")
        if started.returncode != 0:
            raise RuntimeError(f"postfix start failed: {started.stderr}{started.stdout}"
                               f"{self.log()}")
        deadline = time.monotonic() + 20
        while True:
            try:
                with smtplib.SMTP(self.host, self.port, timeout=5) as smtp:
                    smtp.noop()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"postfix did not answer on port {self.port}:\n"
                                       f"{self.log()}") from None
                time.sleep(0.05)

    def _master_pid(self) -> int | None:
        pid_file = self.folder / "queue" / "pid" / "master.pid"
        try:
            return int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        """Stop the daemon and wait for its master to be gone (killed if it lingers)."""
        pid = self._master_pid()
        self._postfix("stop")
        if pid is None:
            return
        deadline = time.monotonic() + 15
        while _alive(pid):
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                break
            time.sleep(0.05)

    def log(self) -> str:
        path = self.folder / "maillog"
        return path.read_text(errors="replace") if path.exists() else "(no maillog)"

    def messages(self, user: str) -> list[bytes]:
        """Every message delivered to `user`, oldest first, as the Maildir holds it."""
        files = [path for sub in ("new", "cur") for path in (self.maildir(user) / sub).glob("*")
                 if path.is_file()]
        return [path.read_bytes() for path in sorted(files, key=lambda p: p.stat().st_mtime)]

    def wait_for(self, user: str, count: int, timeout: float = 30) -> list[bytes]:
        """The messages of `user` once there are `count` of them; fails after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.messages(user)
            if len(found) >= count or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert len(found) == count, (f"{user} has {len(found)} message(s), expected {count}:"
                                     f"\n{self.log()[-4000:]}")
        return found

    def clear(self) -> None:
        """Empty every Maildir (between tests sharing one server)."""
        for user in self.users:
            shutil.rmtree(self.maildir(user), ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (no init reaping it in a container) has stopped too
        return not Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].startswith("Z")
    except OSError:
        return False


@contextlib.contextmanager
def running_postfix(users: tuple[str, ...] = USERS, domain: str = DOMAIN) -> Iterator[Postfix]:
    """A started Postfix on 127.0.0.1, configured in a new temporary folder; always stopped
    and the folder removed.

    Not under pytest's tmp_path: its parents are private to root, and Postfix's own user
    must reach the data directory.
    """
    folder = Path(tempfile.mkdtemp(prefix="newsletter-postfix-"))
    try:
        folder.chmod(0o755)
        server = Postfix(folder, users, domain)
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def dkim_verifies(data: bytes, published: dict[str, bytes], record: str) -> list[bool]:
    """Whether each DKIM-Signature of `data` verifies with dkimpy, the DNS answered by a stub
    that knows only `record` (e.g. "2025-11._domainkey.example.org.") and its `published`
    values per algorithm."""
    import dkim  # type: ignore[import-untyped]

    signatures = [value for name, value in dkim.rfc822_parse(data)[0]
                  if name.lower() == b"dkim-signature"]
    results = []
    for index, value in enumerate(signatures):
        algorithm = dkim.util.parse_tag_value(value)[b"a"].decode()

        def lookup(name: bytes, timeout: int = 5, algorithm: str = algorithm) -> bytes:
            assert name == record.encode(), name
            return published[algorithm]

        results.append(dkim.DKIM(data).verify(idx=index, dnsfunc=lookup))
    return results
