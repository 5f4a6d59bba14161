"""The SMTP transport: smtplib, one connection reused for many messages, TLS verified.

`smtp://host:port` upgrades with STARTTLS whenever the server offers it; `smtps://` speaks
TLS from the first byte. Certificates are checked against the system's CAs (plus
`delivery.smtp_ca_file`). The password comes only from $NEWSLETTER_SMTP_PASSWORD and is handed
to smtplib and nowhere else: not to a log, an error message or a file.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import smtplib
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from newsletter.config import Config, smtp_url_problem
from newsletter.delivery.transports.base import (
    Envelope,
    Reply,
    Stage,
    Transport,
    TransportError,
)
from newsletter.errors import DeliveryError
from newsletter.mail.headers import ascii_address, message_domain

PASSWORD_ENV = "NEWSLETTER_SMTP_PASSWORD"
_NEEDS_STUFFING = re.compile(rb"(?m)^\.")
# What the common path cannot send as it is: a character that breaks the command, or a
# non-ASCII one (an internationalised domain, a UTF-8 local part).
_UNUSUAL_ADDRESS = re.compile(r"[^\x21-\x3b\x3d\x3f-\x7e]")
_UNSAFE_ADDRESS = re.compile(r"[\x00-\x20<>\x7f]")
_STAGES: tuple[Stage, Stage, Stage] = ("MAIL", "RCPT", "DATA")
_ACCEPTED = ((250,), (250, 251), (354,))
# A name with one of these endings is no name on the Internet: a receiver cannot resolve it.
_PRIVATE_SUFFIXES = (".localdomain", ".localhost", ".local", ".internal", ".lan", ".home.arpa",
                     ".test", ".invalid", ".example")
_HOSTNAME = re.compile(r"(?=.{4,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
                       r"[A-Za-z0-9-]{2,63}|\[(?:IPv6:)?[0-9A-Fa-f:.]+\]")


@dataclass(frozen=True)
class SMTPSettings:
    """Where and how to connect; parsed from an smtp:// or smtps:// URL."""

    host: str
    port: int
    user: str | None = None
    implicit_tls: bool = False
    timeout: float = 60.0
    ca_file: Path | None = None
    ehlo_name: str | None = None  # None: this machine's FQDN, else its address literal

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 60.0, ca_file: Path | None = None,
                 ehlo_name: str | None = None) -> SMTPSettings:
        """smtp://[user@]host[:port] (default port 25) or smtps://... (default port 465)."""
        problem = smtp_url_problem(url)
        if problem:
            raise TransportError(f"the SMTP URL {problem}", retry=False)
        parts = urlsplit(url)
        assert parts.hostname is not None
        implicit = parts.scheme == "smtps"
        return cls(host=parts.hostname, port=parts.port or (465 if implicit else 25),
                   user=unquote(parts.username) if parts.username else None,
                   implicit_tls=implicit, timeout=timeout, ca_file=ca_file,
                   ehlo_name=ehlo_name)

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def ehlo_name(config: Config) -> str:
    """The name the client gives in EHLO: delivery.ehlo_name, else this machine's fully
    qualified name, else (a container, a laptop) the domain of from_address.

    The host's own name comes first because EHLO names the sending machine, and receivers
    compare it with the connecting address; the From domain usually resolves to a website.
    """
    configured = getattr(config.delivery, "ehlo_name", None)
    name = configured or _qualified_hostname() or message_domain(config)
    if not _HOSTNAME.fullmatch(name):
        raise DeliveryError(f"delivery.ehlo_name {name!r} is not a host name",
                            hint="set delivery.ehlo_name to this machine's name in DNS, "
                                 "e.g. mail.example.org", code="ehlo-name")
    return name


@functools.cache
def _qualified_hostname() -> str | None:
    """This machine's name if it is one the Internet could resolve; looked up once (smtplib
    would ask DNS again for every connection)."""
    fqdn = socket.getfqdn().rstrip(".").lower()
    if "." not in fqdn or fqdn.startswith("localhost") or fqdn.endswith(_PRIVATE_SUFFIXES) \
            or not _HOSTNAME.fullmatch(fqdn):
        return None
    return fqdn


def _address_literal(smtp: smtplib.SMTP) -> str:
    """RFC 5321's stand-in for a host without a name: [192.0.2.1] or [IPv6:2001:db8::1]."""
    try:
        address = str(smtp.sock.getsockname()[0]) if smtp.sock else "127.0.0.1"
    except OSError:
        address = "127.0.0.1"
    return f"[IPv6:{address}]" if ":" in address else f"[{address}]"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _text(message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return " ".join(text.split())


class SMTPTransport(Transport):
    """One SMTP connection; a dropped one is opened again on the next message."""

    name = "smtp"

    def __init__(self, settings: SMTPSettings, password: str | None = None) -> None:
        self.settings = settings
        self._password = password if password is not None else os.environ.get(PASSWORD_ENV)
        self._smtp: smtplib.SMTP | None = None
        try:
            self._context = ssl.create_default_context(
                cafile=str(settings.ca_file) if settings.ca_file else None)
        except (OSError, ssl.SSLError) as exc:
            raise TransportError(f"cannot load delivery.smtp_ca_file {settings.ca_file}: "
                                 f"{_reason(exc)}", retry=False) from None
        if settings.ca_file:
            self._context.load_default_certs()
        self.tls = False
        self._content_sent = False

    def __repr__(self) -> str:
        return f"<SMTPTransport {self.settings.where} user={self.settings.user!r}>"

    def open(self) -> None:
        if self._smtp is not None:
            return
        settings = self.settings
        if settings.user and not self._password:
            raise TransportError(f"{PASSWORD_ENV} is not set", retry=False,
                                 hint=f"export {PASSWORD_ENV} with the password of "
                                      f"{settings.user}")
        name = settings.ehlo_name or _qualified_hostname()
        try:
            if settings.implicit_tls:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port,
                                                      local_hostname=name or "[127.0.0.1]",
                                                      timeout=settings.timeout,
                                                      context=self._context)
            else:
                smtp = smtplib.SMTP(settings.host, settings.port,
                                    local_hostname=name or "[127.0.0.1]",
                                    timeout=settings.timeout)
            if not name:
                smtp.local_hostname = _address_literal(smtp)
        except ssl.SSLCertVerificationError as exc:
            raise self._certificate_error(exc) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise TransportError(f"cannot connect to {settings.where}: {_reason(exc)}",
                                 retry=True) from None
        try:
            self._handshake(smtp)
        except BaseException:
            smtp.close()
            raise
        self._smtp = smtp

    def _handshake(self, smtp: smtplib.SMTP) -> None:
        settings = self.settings
        try:
            smtp.ehlo()
            self.tls = settings.implicit_tls
            if not self.tls and smtp.has_extn("starttls"):
                smtp.starttls(context=self._context)
                smtp.ehlo()
                self.tls = True
            if settings.user:
                if not self.tls and not _is_loopback(settings.host):
                    raise TransportError(
                        f"{settings.where} offers no TLS: the password would travel in clear",
                        retry=False, hint="use smtps:// or a server that offers STARTTLS")
                smtp.login(settings.user, self._password or "")
        except ssl.SSLCertVerificationError as exc:
            raise self._certificate_error(exc) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise TransportError(
                f"login as {settings.user} at {settings.where} was refused: "
                f"{exc.smtp_code} {_text(exc.smtp_error)}", retry=False,
                hint=f"check the user and {PASSWORD_ENV}") from None
        except smtplib.SMTPNotSupportedError:
            raise TransportError(f"{settings.where} does not support login (AUTH)",
                                 retry=False, hint="leave the user out of the URL") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise TransportError(f"{settings.where} broke off the handshake: {_reason(exc)}",
                                 retry=True) from None

    def _certificate_error(self, exc: ssl.SSLCertVerificationError) -> TransportError:
        return TransportError(
            f"the TLS certificate of {self.settings.where} does not verify: "
            f"{exc.verify_message or exc.reason}", retry=False,
            hint="fix the server's certificate, or trust its CA with delivery.smtp_ca_file")

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            pass
        finally:
            smtp.close()

    def _abandon(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    def send(self, envelope: Envelope) -> Reply:
        reused = self._smtp is not None
        self.open()
        self._content_sent = False
        try:
            reply = self._transaction(envelope)
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            self._abandon()
            if reused and not self._content_sent:
                # The server had closed the reused connection before this message's content
                # went out (an idle timeout): nothing was delivered, so one fresh connection
                # is not a retry.
                return self.send(envelope)
            if isinstance(exc, TimeoutError):
                return Reply(451, "4.4.7 timed out waiting for the server")
            return Reply(451, f"4.4.2 connection lost: {_reason(exc)}")
        if reply.code == 421:
            self._abandon()  # 421: the server is closing the connection
        return reply

    def _transaction(self, envelope: Envelope) -> Reply:
        """MAIL, RCPT, DATA, content. With PIPELINING the three commands go in one write.

        The commands are written directly: smtplib's mail() and rcpt() parse each address
        with the email package (about 100 µs a message); ours are checked once instead.
        """
        smtp = self._smtp
        assert smtp is not None
        if _UNUSUAL_ADDRESS.search(envelope.sender + envelope.recipient):
            prepared = self._unusual_commands(smtp, envelope)
            if isinstance(prepared, Reply):
                return prepared
            mail, rcpt = prepared
        else:
            mail = f"MAIL FROM:<{envelope.sender}>\r\n"
            rcpt = f"RCPT TO:<{envelope.recipient}>\r\n"
        replies = self._commands(smtp, (mail, rcpt, "DATA\r\n"))
        failed = next((index for index, (reply, accepted)
                       in enumerate(zip(replies, _ACCEPTED, strict=False))
                       if reply[0] not in accepted), None)
        if failed is None:
            code, message = self._content(smtp, envelope.data, envelope.dot_safe)
            return Reply(code, _text(message), "DATA")
        if len(replies) == 3 and replies[2][0] == 354:
            # A broken pipelining server opened DATA for no valid recipient: close it empty.
            smtp.send(b".\r\n")
            smtp.getreply()
        code, message = replies[failed]
        if code != 421:
            try:
                smtp.rset()
            except (OSError, smtplib.SMTPException):
                self._abandon()
        return Reply(code, _text(message), _STAGES[failed])

    def _commands(self, smtp: smtplib.SMTP, commands: tuple[str, str, str]
                  ) -> list[tuple[int, bytes]]:
        """The replies to MAIL, RCPT and DATA: all three pipelined, else up to the first refusal."""
        if smtp.does_esmtp and smtp.has_extn("pipelining"):
            smtp.send("".join(commands).encode())
            return [smtp.getreply() for _ in commands]
        replies: list[tuple[int, bytes]] = []
        for command, accepted in zip(commands, _ACCEPTED, strict=True):
            smtp.send(command.encode())
            replies.append(smtp.getreply())
            if replies[-1][0] not in accepted:
                break
        return replies

    def _unusual_commands(self, smtp: smtplib.SMTP, envelope: Envelope) -> tuple[str, str] | Reply:
        """MAIL and RCPT for addresses off the common path, or the local refusal of one.

        A domain goes in its ASCII (IDNA) form; a UTF-8 local part needs SMTPUTF8 (RFC 6531),
        and without it that recipient fails on its own, permanently but not as a bounce.
        """
        if _UNSAFE_ADDRESS.search(envelope.sender):
            return Reply(553, "5.1.7 (local) the sender address has a control character, a "
                              "space or <>", "MAIL")
        if _UNSAFE_ADDRESS.search(envelope.recipient):
            return Reply(553, "5.1.3 (local) the address has a control character, a space or <>",
                         "RCPT")
        try:
            sender, recipient = ascii_address(envelope.sender), ascii_address(envelope.recipient)
        except DeliveryError as exc:
            return Reply(553, f"5.1.3 (local) {exc.detail}", "RCPT")
        options = ""
        if not (sender + recipient).isascii():
            if not (smtp.does_esmtp and smtp.has_extn("smtputf8")):
                stage: Stage = "RCPT" if sender.isascii() else "MAIL"
                who = recipient if sender.isascii() else sender
                return Reply(553, f"5.6.7 (local) {who} has a non-ASCII local part and "
                                  f"{self.settings.where} does not offer SMTPUTF8", stage)
            options = " BODY=8BITMIME SMTPUTF8" if smtp.has_extn("8bitmime") else " SMTPUTF8"
        return f"MAIL FROM:<{sender}>{options}\r\n", f"RCPT TO:<{recipient}>\r\n"

    def _content(self, smtp: smtplib.SMTP, data: bytes, dot_safe: bool) -> tuple[int, bytes]:
        """The message and the final dot, without smtplib's per-message regex."""
        if not dot_safe and (data.startswith(b".") or b"\n." in data):
            data = _NEEDS_STUFFING.sub(b"..", data)
        self._content_sent = True
        smtp.send(data + b".\r\n" if data.endswith(b"\r\n") else data + b"\r\n.\r\n")
        return smtp.getreply()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
