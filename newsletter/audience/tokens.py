"""Signed tokens, bound to one list: unsubscribe links and confirmation links.

An unsubscribe token is ``u.<uid>.<signature>``: the subscriber's random uid (schema v3),
never reused and saying nothing about the size of the list. Links sent before v3 read
``<subscriber id>.<signature>``; they are honoured only for rows older than v3 (the store's
`legacy_subscriber`), so an id SQLite hands to someone new never matches an old link. The
list id is part of what is signed, not of the token, so a token made for one list is
refused by another that shares the secret. Each token has one spelling.

`ReaderTokens` is what a send and the web app use: it makes a reader's token from their id
(uids looked up in chunks and cached) and names the reader a token belongs to.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import stat
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.config import Config
from newsletter.errors import DeliveryError
from newsletter.mail.headers import list_id

if TYPE_CHECKING:
    from newsletter.store.base import Store, Subscriber

SECRET_ENV = "NEWSLETTER_SECRET"
MIN_SECRET = 16
# One spelling per token: the number without leading zeros ("01" would be a second token for
# subscriber 1), the signature exactly as `token` writes it (compared in full below).
_TOKEN = re.compile(r"(0|[1-9][0-9]{0,17})\.([A-Za-z0-9_-]{22})")
_UID_TOKEN = re.compile(r"u\.([0-9a-f]{32})\.([A-Za-z0-9_-]{22})")
# The uid of nobody: the token of an id with no row (a test copy to an outsider) names it.
NOBODY = "0" * 32


def load_secret(key_file: Path) -> bytes:
    """The signing secret: $NEWSLETTER_SECRET, else a key file made on first use (mode 0600)."""
    from_env = os.environ.get(SECRET_ENV)
    if from_env is not None:
        if len(from_env) < MIN_SECRET:
            raise DeliveryError(f"{SECRET_ENV} is shorter than {MIN_SECRET} characters",
                                hint="use a long random value, e.g. from `openssl rand -hex 32`")
        return from_env.encode()
    try:
        # O_EXCL: two processes starting at once cannot both write a different secret.
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key_file(key_file)
    except OSError as exc:
        raise DeliveryError(f"cannot create the key file: {exc.strerror}", path=key_file) from exc
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    return _read_key_file(key_file)


def _read_key_file(key_file: Path) -> bytes:
    try:
        mode = key_file.stat().st_mode
        text = key_file.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise DeliveryError(f"cannot read the key file: {exc}", path=key_file) from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise DeliveryError("key file is readable by other users", path=key_file,
                            hint=f"run: chmod 600 {key_file}")
    if len(text) < MIN_SECRET:
        raise DeliveryError("key file holds no usable secret", path=key_file,
                            hint="delete it to have a new one made (old links stop working)")
    return text.encode()


class Signer:
    """Makes and checks the tokens of one list under one key (unsubscribe links, VERP)."""

    def __init__(self, secret: bytes, list_id: str) -> None:
        # Keyed once; each token copies the keyed state instead of re-deriving the key.
        self._keyed = hmac.new(secret, b"unsubscribe\x00" + list_id.encode() + b"\x00",
                               hashlib.sha256)

    def _signature(self, subject: int | str) -> str:
        mac = self._keyed.copy()
        mac.update(str(subject).encode())
        # 128 bits of the MAC: forging one is as hard as guessing a random 128-bit value.
        return base64.urlsafe_b64encode(mac.digest()[:16]).rstrip(b"=").decode()

    def token(self, subscriber_id: int) -> str:
        """The `<id>.<sig>` form: VERP return paths, and unsubscribe links sent before v3."""
        return f"{subscriber_id}.{self._signature(subscriber_id)}"

    def uid_token(self, uid: str) -> str:
        """`u.<uid>.<sig>`: a reader's unsubscribe token."""
        return f"u.{uid}.{self._signature('u.' + uid)}"

    def verify(self, token: str) -> int:
        """The subscriber id inside a valid `<id>.<sig>` token; altered or forged: refused."""
        match = _TOKEN.fullmatch(token.strip())
        if not match:
            raise DeliveryError("malformed unsubscribe token",
                                hint="copy the whole token from the unsubscribe link")
        subscriber_id = int(match[1])
        self._check(match[2], subscriber_id)
        return subscriber_id

    def reference(self, token: str) -> int | str:
        """What a valid token of either form names: a uid (str) or a pre-v3 id (int)."""
        match = _UID_TOKEN.fullmatch(token.strip())
        if match is None:
            return self.verify(token)
        self._check(match[2], "u." + match[1])
        return match[1]

    def _check(self, signature: str, subject: int | str) -> None:
        if not hmac.compare_digest(signature, self._signature(subject)):
            raise DeliveryError("invalid unsubscribe token: the signature does not match",
                                hint="it was altered, forged, or made with another secret")


class ReaderTokens:
    """The unsubscribe tokens of a list's readers, on its store.

    `token(id)` is called once per message of a send, from its worker threads: uids are read
    a chunk of ids at a time (a send claims rows in id order) and kept in a bounded cache,
    behind a lock taken only on a miss. The store is opened on first use and closed with
    this object (or at exit).
    """

    CHUNK = 1024
    # At most 16,384 uids (about 3 MB) in memory, whatever the size of the list: the workers
    # of a send claim neighbouring ids, so they share a chunk or two at a time, and a miss
    # costs one query for 1,024 ids. (256 chunks held a whole list of 100,000, 17 MB.)
    CHUNKS = 16

    def __init__(self, signer: Signer, store: Callable[[], Store]) -> None:
        self.signer = signer
        self._open = store
        self._store: Store | None = None
        self._chunks: OrderedDict[int, dict[int, str]] = OrderedDict()
        self._lock = threading.Lock()
        self._closer: weakref.finalize | None = None

    def _opened(self) -> Store:
        if self._store is None:
            self._store = self._open()
            self._closer = weakref.finalize(self, self._store.close)
        return self._store

    def close(self) -> None:
        if self._closer is not None:
            self._closer()
        self._store = None

    def uid(self, subscriber_id: int) -> str:
        """The uid of a subscriber id; NOBODY for an id without a row."""
        chunk = self._chunks.get(subscriber_id // self.CHUNK)
        if chunk is None:
            with self._lock:
                chunk = self._load(subscriber_id // self.CHUNK)
        return chunk.get(subscriber_id, NOBODY)

    def _load(self, index: int) -> dict[int, str]:
        chunk = self._chunks.get(index)
        if chunk is None:
            chunk = self._opened().subscriber_uids(index * self.CHUNK, self.CHUNK)
            self._chunks[index] = chunk
            while len(self._chunks) > self.CHUNKS:
                self._chunks.popitem(last=False)
        return chunk

    def token(self, subscriber_id: int) -> str:
        """The reader's unsubscribe token (for the link in their message)."""
        return self.signer.uid_token(self.uid(subscriber_id))

    def reader(self, token: str, store: Store | None = None) -> Subscriber | None:
        """Whom a valid token names; None if no one on the list now (forgotten, or an old
        `<id>.<sig>` link whose id now belongs to someone added since). Forged: refused."""
        return self.named(self.signer.reference(token), store)

    def named(self, reference: int | str, store: Store | None = None) -> Subscriber | None:
        """Whom a checked reference (`Signer.reference`) names, if anyone."""
        store = store or self._opened()
        if isinstance(reference, str):
            return store.subscriber_by_uid(reference)
        return store.legacy_subscriber(reference)

    def verify(self, token: str) -> int:
        """The subscriber id a token names; refused when it names no one on the list."""
        found = self.reader(token)
        if found is None:
            raise DeliveryError("the token is valid but its subscriber no longer exists")
        return found.id


_CONFIRM = re.compile(r"c\.([A-Za-z0-9_-]{8,700})\.([A-Za-z0-9_-]{22})")


@dataclass(frozen=True)
class Confirmation:
    """What a confirmation link carries: the address, its state when asked, an expiry."""

    email: str
    name: str
    state: str  # `state_mark` of the address when the link was made
    expires: int  # epoch seconds


def state_mark(state: tuple[str, ...] | None) -> str:
    """A short mark of an address's state (uid, status, updated_at; None: not on the list).

    A confirmation link is good only while the address is as it was when the link was made:
    once it is used, or the reader leaves again, replaying it does nothing.
    """
    if state is None:
        return "new"
    return hashlib.sha256("\x00".join(state).encode()).hexdigest()[:16]


class ConfirmSigner:
    """Signed, expiring confirmation links of one list (double opt-in), stateless."""

    def __init__(self, secret: bytes, list_id: str) -> None:
        self._keyed = hmac.new(secret, b"confirm\x00" + list_id.encode() + b"\x00",
                               hashlib.sha256)

    def _signature(self, payload: bytes) -> str:
        mac = self._keyed.copy()
        mac.update(payload)
        return base64.urlsafe_b64encode(mac.digest()[:16]).rstrip(b"=").decode()

    def token(self, confirmation: Confirmation) -> str:
        payload = "\n".join([str(confirmation.expires), confirmation.state,
                             confirmation.email, confirmation.name]).encode()
        encoded = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
        return f"c.{encoded}.{self._signature(payload)}"

    def open(self, token: str, now: float) -> Confirmation:
        """The confirmation in a valid, unexpired token; DeliveryError otherwise (code
        "expired" for a genuine link that is too old)."""
        match = _CONFIRM.fullmatch(token)
        payload = _unbase64(match[1]) if match else None
        if match is None or payload is None:
            raise DeliveryError("malformed confirmation link", code="malformed")
        if not hmac.compare_digest(match[2], self._signature(payload)):
            raise DeliveryError("invalid confirmation link: the signature does not match",
                                code="forged")
        expires, state, email, name = payload.decode().split("\n", 3)
        if int(expires) < now:
            raise DeliveryError("the confirmation link has expired", code="expired")
        return Confirmation(email, name, state, int(expires))


def _unbase64(text: str) -> bytes | None:
    """Base64url without padding, in its one spelling (unused low bits must be zero)."""
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        return None
    canonical = base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    return data if canonical == text else None


def confirm_signer_for(config: Config) -> ConfirmSigner:
    """The list's confirmation-link signer."""
    return ConfirmSigner(load_secret(config.secret_path), list_id(config))


def signer_for(config: Config) -> ReaderTokens:
    """The list's reader tokens (the secret comes from the environment or the key file)."""
    from newsletter.store import open_store

    return ReaderTokens(list_signer(config), lambda: open_store(config))


def list_signer(config: Config) -> Signer:
    """The list's token signer, without a store."""
    return Signer(load_secret(config.secret_path), list_id(config))
