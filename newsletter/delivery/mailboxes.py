"""Where returned mail is read from: a local Maildir, or an IMAP folder over TLS.

Both give the messages waiting in the mailbox and, for each one processed, put it away so
the next run does not see it again: a Maildir moves it (one rename) into a sub-Maildir
(`.processed/cur/`, flagged seen); IMAP flags it \\Seen and moves it to a folder (MOVE, or
COPY and delete where the server has no MOVE). A message left alone stays where it was.
"""

from __future__ import annotations

import imaplib
import mailbox
import os
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from newsletter.delivery.bounce_settings import IMAP_PASSWORD_ENV, imap_url_problem
from newsletter.errors import DeliveryError


@dataclass(frozen=True)
class Item:
    """One message waiting in a mailbox."""

    key: str  # the mailbox's own key: a Maildir file's unique name, an IMAP UID
    where: str  # for reports: the file, or folder and UID
    data: bytes


class Mailbox(Protocol):
    """A mailbox of returned mail; `done` puts a processed message away."""

    name: str

    def items(self) -> Iterator[Item]: ...
    def done(self, item: Item) -> None: ...
    def close(self) -> None: ...


class MaildirBox:
    """A Maildir (new/ and cur/ of its top level); processed mail goes to `.<folder>/cur/`."""

    def __init__(self, path: Path, folder: str = "processed") -> None:
        self.name = str(path)
        self._root = path
        if not all((path / sub).is_dir() for sub in ("cur", "new", "tmp")):
            raise DeliveryError("is not a Maildir (it needs cur/, new/ and tmp/)", path=path,
                                hint="give the folder that holds the bounce mailbox's cur/ "
                                     "and new/", code="not-a-maildir")
        self._box = mailbox.Maildir(path, factory=None, create=False)
        self._folder = folder
        self._target: Path | None = None

    def items(self) -> Iterator[Item]:
        """The messages of the top level, oldest file name first (sub-Maildirs left out)."""
        for key in sorted(self._box.keys()):
            try:
                message = self._box.get_message(key)
                data = self._box.get_bytes(key)
            except (KeyError, FileNotFoundError):  # taken by another reader meanwhile
                continue
            yield Item(key, str(self._file(key, message)), data)

    def _file(self, key: str, message: mailbox.MaildirMessage) -> Path:
        info = message.get_info()
        name = key + (self._box.colon + info if info else "")
        return self._root / message.get_subdir() / name

    def done(self, item: Item) -> None:
        """Move the file into the processed sub-Maildir, flagged seen: one atomic rename."""
        if self._target is None:
            self._box.add_folder(self._folder)
            self._target = self._root / f".{self._folder}" / "cur"
        source = Path(item.where)
        info = source.name.partition(self._box.colon)[2]
        flags = "".join(sorted(set(info.partition(",")[2]) | {"S"}))
        try:
            os.rename(source, self._target / f"{item.key}{self._box.colon}2,{flags}")
        except FileNotFoundError:
            return  # already moved by another run
        except OSError as exc:
            raise DeliveryError(f"cannot move it to {self._target}: {exc.strerror}",
                                path=source) from None

    def close(self) -> None:
        self._box.close()


def _quoted(folder: str) -> str:
    return '"' + folder + '"'


class IMAPBox:
    """An IMAP folder over TLS (imaps://, or imap:// with STARTTLS, which is then required)."""

    def __init__(self, url: str, folder: str = "processed", *, password: str | None = None,
                 timeout: float = 60.0, ca_file: Path | None = None) -> None:
        problem = imap_url_problem(url)
        if problem:
            raise DeliveryError(f"the IMAP URL {problem}", code="imap-url")
        parts = urlsplit(url)
        assert parts.hostname is not None and parts.username is not None
        self._host, self._user = parts.hostname, unquote(parts.username)
        self._port = parts.port or (993 if parts.scheme == "imaps" else 143)
        self.name = f"{parts.scheme}://{parts.username}@{parts.netloc.rpartition('@')[2]}"
        self._source = unquote(parts.path.strip("/")) or "INBOX"
        self._folder = folder
        self._password = password if password is not None else os.environ.get(IMAP_PASSWORD_ENV)
        if not self._password:
            raise DeliveryError(f"{IMAP_PASSWORD_ENV} is not set", code="imap-password",
                                hint=f"export {IMAP_PASSWORD_ENV} with the password of "
                                     f"{self._user}")
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        self._imap = self._connect(parts.scheme == "imaps", context, timeout)
        self._created = False

    def _connect(self, implicit: bool, context: ssl.SSLContext,
                 timeout: float) -> imaplib.IMAP4:
        where = f"{self._host}:{self._port}"
        try:
            if implicit:
                imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(self._host, self._port,
                                                        ssl_context=context, timeout=timeout)
            else:
                imap = imaplib.IMAP4(self._host, self._port, timeout=timeout)
                if "STARTTLS" not in imap.capabilities:
                    imap.shutdown()
                    raise DeliveryError(f"{where} offers no STARTTLS: the password would "
                                        "travel in clear", hint="use imaps://",
                                        code="imap-no-tls")
                imap.starttls(ssl_context=context)
            imap.login(self._user, self._password or "")
            self._check(imap.select(_quoted(self._source)), f"cannot open {self._source}")
        except ssl.SSLCertVerificationError as exc:
            raise DeliveryError(f"the certificate of {where} does not verify: "
                                f"{exc.verify_message}", code="imap-certificate") from None
        except imaplib.IMAP4.error as exc:
            raise DeliveryError(f"{where}: {_text(exc)}", code="imap-refused",
                                hint=f"check the user, {IMAP_PASSWORD_ENV} and the folder "
                                     "in the URL") from None
        except OSError as exc:
            raise DeliveryError(f"cannot connect to {where}: {exc}",
                                code="imap-unreachable") from None
        # Asked again: a server may offer more once logged in (Dovecot offers MOVE then).
        try:
            offered = set(_text(self._check(imap.capability(), "CAPABILITY")).upper().split())
        except (imaplib.IMAP4.error, OSError):
            offered = set(imap.capabilities)
        self._moves, self._uidplus = "MOVE" in offered, "UIDPLUS" in offered
        return imap

    @staticmethod
    def _check(answer: tuple[str, list], what: str) -> list:
        kind, data = answer
        if kind != "OK":
            raise imaplib.IMAP4.error(f"{what}: {_text(data)}")
        return data

    def items(self) -> Iterator[Item]:
        """Every message of the folder not marked deleted, by UID."""
        try:
            found = self._check(self._imap.uid("SEARCH", "UNDELETED"), "SEARCH")
            for uid in (found[0] or b"").decode().split():
                data = self._check(self._imap.uid("FETCH", uid, "(BODY.PEEK[])"), "FETCH")
                body = next((part[1] for part in data if isinstance(part, tuple)), None)
                if isinstance(body, bytes):
                    yield Item(uid, f"{self._source} UID {uid}", body)
        except (imaplib.IMAP4.error, OSError) as exc:
            raise DeliveryError(f"{self.name}: {_text(exc)}", code="imap-failed") from None

    def done(self, item: Item) -> None:
        """\\Seen, then into the processed folder (made on first use)."""
        try:
            if not self._created:
                kind, data = self._imap.create(_quoted(self._folder))
                if kind != "OK" and b"exist" not in b" ".join(
                        d for d in data if isinstance(d, bytes)).lower():
                    raise imaplib.IMAP4.error(f"CREATE {self._folder}: {_text(data)}")
                self._created = True
            self._check(self._imap.uid("STORE", item.key, "+FLAGS", r"(\Seen)"), "STORE")
            if self._moves:
                self._check(self._imap.uid("MOVE", item.key, _quoted(self._folder)), "MOVE")
                return
            self._check(self._imap.uid("COPY", item.key, _quoted(self._folder)), "COPY")
            self._check(self._imap.uid("STORE", item.key, "+FLAGS", r"(\Deleted)"), "STORE")
            if self._uidplus:  # only this message, not others marked deleted meanwhile
                self._check(self._imap.uid("EXPUNGE", item.key), "EXPUNGE")
            else:
                self._check(self._imap.expunge(), "EXPUNGE")
        except (imaplib.IMAP4.error, OSError) as exc:
            raise DeliveryError(f"{self.name}: {_text(exc)}", code="imap-failed") from None

    def close(self) -> None:
        try:
            self._imap.close()
            self._imap.logout()
        except (imaplib.IMAP4.error, OSError):
            pass


def _text(value: object) -> str:
    if isinstance(value, list):
        value = b" ".join(v if isinstance(v, bytes) else str(v).encode() for v in value)
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return " ".join(text.split())
