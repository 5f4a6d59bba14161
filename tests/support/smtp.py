"""Real SMTP servers on 127.0.0.1 for the tests: aiosmtpd on its own event loop thread.

`SMTPServer(handler)` listens on a free port as soon as it is constructed; `stop()` closes
the listener and every client connection, so no socket outlives a test (warnings are errors).
"""

from __future__ import annotations

import asyncio
import email
import ssl
import subprocess
import threading
from collections import Counter
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

DATE = "2025-11-28"
SECRET = "test-secret-0123456789abcdef"
# Tiny retry delays so failure tests take milliseconds.
FAST_RETRIES = ("[delivery]\nretry_base = 0.01\nretry_cap = 0.05\nmax_attempts = 4\n"
                "smtp_timeout = 10\n")


class Recorder:
    """Accepts everything and keeps (mail_from, rcpt_tos, content bytes) of each message."""

    def __init__(self, *, pipelining: bool = False) -> None:
        self.pipelining = pipelining  # advertise PIPELINING (aiosmtpd reads commands in turn)
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.mail_options: list[list[str]] = []  # per message: the MAIL FROM parameters
        self.lock = threading.Lock()
        self.on_accept: Callable[[int], None] | None = None  # called with the count, pre-250
        self.tls: list[bool] = []  # per message: did it come over TLS

    async def handle_EHLO(self, server: SMTP, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                                  envelope.original_content))
            self.mail_options.append(list(envelope.mail_options))
            self.tls.append(server.transport.get_extra_info("ssl_object") is not None)
            count = len(self.messages)
        if self.on_accept is not None:
            self.on_accept(count)
        return "250 2.0.0 OK queued"

    def per_recipient(self) -> Counter[str]:
        with self.lock:
            return Counter(rcpt for _, rcpts, _ in self.messages for rcpt in rcpts)

    def parsed(self) -> list[EmailMessage]:
        with self.lock:
            return [email.message_from_bytes(content, policy=policy.default)  # type: ignore[misc]
                    for _, _, content in self.messages]


class Failing(Recorder):
    """Answers chosen recipients with failures; `plan[address]` lists what to do, in turn.

    Actions: "421" (closing: the client must reconnect), "451" (try later), "550" (no such
    user, 5.1.1), "554" (rejected, not a mailbox problem), "sender" (Postfix's way of refusing
    the sender: 553 5.1.8 in reply to RCPT TO), "drop" (the connection is cut in the middle of
    DATA), "slow" (no reply to DATA for a second), "550-after-data" (5.1.1 naming the
    recipient, in reply to the message), "554-after-data" (5.1.0 naming no one, in reply to
    the message), or "ok". After the list runs out the recipient is accepted.
    """

    def __init__(self, plan: dict[str, list[str]], *, pipelining: bool = False) -> None:
        super().__init__(pipelining=pipelining)
        self.plan = {address: list(actions) for address, actions in plan.items()}
        self.seen: Counter[str] = Counter()

    def _next(self, address: str) -> str:
        with self.lock:
            self.seen[address] += 1
            actions = self.plan.get(address)
            return actions.pop(0) if actions else "ok"

    async def handle_RCPT(self, server: SMTP, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        action = self._next(address)
        if action == "421":
            return "421 4.7.0 Too busy, closing the connection"
        if action == "451":
            return "451 4.3.0 Please try again later"
        if action == "550":
            return f"550 5.1.1 <{address}>: Recipient address rejected: no such user"
        if action == "554":
            return "554 5.7.1 Message rejected by policy"
        if action == "sender":
            return f"553 5.1.8 <{envelope.mail_from}>: Sender address rejected: Domain not found"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        if action in ("drop", "slow", "550-after-data", "554-after-data"):
            envelope.action = action
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        action = getattr(envelope, "action", None)
        if action == "550-after-data":
            return f"550 5.1.1 <{envelope.rcpt_tos[0]}>: mailbox unavailable"
        if action == "554-after-data":
            return "554 5.1.0 message refused"
        if action == "drop":
            server.transport.close()  # cut the line: no reply to this DATA ever comes
            return "451 never seen"
        if action == "slow":
            await asyncio.sleep(1.0)  # longer than the client's timeout in the test
            return "451 4.4.7 too late"
        return await super().handle_DATA(server, session, envelope)


class RefusingSender(Recorder):
    """Refuses every MAIL FROM, as a server does a sender it will not relay for."""

    def __init__(self, reply: str = "553 5.1.8 <{sender}>: Sender address rejected", *,
                 pipelining: bool = False) -> None:
        super().__init__(pipelining=pipelining)
        self.reply = reply
        self.refused = 0

    async def handle_MAIL(self, server: SMTP, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        with self.lock:
            self.refused += 1
        return self.reply.format(sender=address)


class SMTPServer:
    """An aiosmtpd server on 127.0.0.1, a free port, its own loop thread."""

    def __init__(self, handler: Any, *, tls_context: Any = None, implicit_tls: Any = None,
                 auth: tuple[str, str] | None = None, smtputf8: bool = False) -> None:
        """`tls_context` offers (and requires) STARTTLS; `implicit_tls` speaks TLS at once;
        `smtputf8` offers SMTPUTF8 (RFC 6531: UTF-8 addresses)."""
        self.handler = handler
        self._smtputf8 = smtputf8
        self._tls = tls_context
        self._implicit = implicit_tls
        self._auth = auth
        self._sessions: list[SMTP] = []
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="smtp-server", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        self.port: int = self._server.sockets[0].getsockname()[1]
        self.host = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def _authenticate(self, server: SMTP, session: Any, envelope: Any, mechanism: str,
                      data: Any) -> AuthResult:
        ok = (isinstance(data, LoginPassword) and self._auth is not None
              and (data.login.decode(), data.password.decode()) == self._auth)
        return AuthResult(success=ok, handled=False)

    def _factory(self) -> SMTP:
        session = SMTP(self.handler, hostname="mx.test", ident="test-smtpd",
                       tls_context=self._tls, require_starttls=self._tls is not None,
                       authenticator=self._authenticate if self._auth else None,
                       auth_require_tls=self._tls is not None,
                       enable_SMTPUTF8=self._smtputf8, loop=self.loop)
        self._sessions.append(session)
        return session

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._server = self.loop.run_until_complete(
            self.loop.create_server(self._factory, "127.0.0.1", 0, ssl=self._implicit))
        self._ready.set()
        self.loop.run_forever()

    def stop(self) -> None:
        async def shutdown() -> None:
            self._server.close()
            for session in self._sessions:
                if session.transport is not None:
                    session.transport.close()
            await self._server.wait_closed()
            await asyncio.sleep(0)

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        pending = asyncio.all_tasks(self.loop)
        for task in pending:
            task.cancel()
        if pending:
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.close()

    def __enter__(self) -> SMTPServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def self_signed_certificate(folder: Path) -> tuple[Path, ssl.SSLContext]:
    """A certificate for 127.0.0.1 and localhost, made with the openssl command line.

    Returns the certificate file (for the client to trust) and a server context that uses it.
    """
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return cert, context


def prepare_project(project: Any, subscribers: list[tuple[str, str, str]] | int,
                    delivery: str = FAST_RETRIES) -> Path:
    """An issue for DATE, a [delivery] table, and `subscribers` imported from a CSV file.

    `subscribers` is a list of (email, name, status) or a count of generated readers
    (reader0@example.org ...). Returns the CSV file.
    """
    project.add_paper("a-paper", title="A Paper", published="2025-11-01")
    project.add_issue(DATE, ["a-paper"])
    with open(project.root / "newsletter.toml", "a", encoding="utf-8") as handle:
        handle.write(delivery)
    if isinstance(subscribers, int):
        subscribers = [(f"reader{i}@example.org", f"Reader {i}", "") for i in range(subscribers)]
    csv_path = project.root / "subscribers.csv"
    lines = ["email,name,status"] + [",".join(row) for row in subscribers]
    csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    from newsletter.commands.subscribers import import_csv

    report = import_csv(project.config(), csv_path)
    assert not report.bad, report.bad
    return csv_path
