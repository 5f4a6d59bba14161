"""Signed unsubscribe tokens: HMAC-SHA256 over the subscriber id, bound to one list.

A token is ``<subscriber id>.<signature>``: short enough for a link, and it shows nothing
about the reader but a number. The list id is part of what is signed, not of the token, so a
token made for one list is refused by another that shares the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import stat
from pathlib import Path

from newsletter.config import Config
from newsletter.errors import DeliveryError
from newsletter.mail.headers import list_id

SECRET_ENV = "NEWSLETTER_SECRET"
MIN_SECRET = 16
# One spelling per token: the number without leading zeros ("01" would be a second token for
# subscriber 1), the signature exactly as `token` writes it (compared in full below).
_TOKEN = re.compile(r"(0|[1-9][0-9]{0,17})\.([A-Za-z0-9_-]{22})")


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
    """Makes and checks the unsubscribe tokens of one list."""

    def __init__(self, secret: bytes, list_id: str) -> None:
        # Keyed once; each token copies the keyed state instead of re-deriving the key.
        self._keyed = hmac.new(secret, b"unsubscribe\x00" + list_id.encode() + b"\x00",
                               hashlib.sha256)

    def _signature(self, subscriber_id: int) -> str:
        mac = self._keyed.copy()
        mac.update(str(subscriber_id).encode())
        # 128 bits of the MAC: forging one is as hard as guessing a random 128-bit value.
        return base64.urlsafe_b64encode(mac.digest()[:16]).rstrip(b"=").decode()

    def token(self, subscriber_id: int) -> str:
        return f"{subscriber_id}.{self._signature(subscriber_id)}"

    def verify(self, token: str) -> int:
        """The subscriber id inside a valid token; an altered or forged one is refused."""
        match = _TOKEN.fullmatch(token.strip())
        if not match:
            raise DeliveryError("malformed unsubscribe token",
                                hint="copy the whole token from the unsubscribe link")
        subscriber_id = int(match[1])
        if not hmac.compare_digest(match[2], self._signature(subscriber_id)):
            raise DeliveryError("invalid unsubscribe token: the signature does not match",
                                hint="it was altered, forged, or made with another secret")
        return subscriber_id


def signer_for(config: Config) -> Signer:
    """The token signer of this list (the secret comes from the environment or the key file)."""
    return Signer(load_secret(config.secret_path), list_id(config))
