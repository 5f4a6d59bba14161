"""`newsletter dkim keygen` and `newsletter dkim records`: DKIM keys and their DNS records."""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from newsletter.config import Config
from newsletter.errors import ConfigError, OutputError, UsageError
from newsletter.mail.dkim import signer_for
from newsletter.mail.dkim_keys import SigningKey, dkim_plan, key_paths, settings_of, txt_record
from newsletter.mail.dkim_settings import ALGORITHMS, Algorithm, DKIMSettings, selector_problem
from newsletter.mail.headers import message_domain

RSA_BITS = 2048


@dataclass
class KeygenReport:
    """What keygen wrote, the records to publish, and whether messages will use the key."""

    selector: str
    domain: str
    written: list[Path]
    records: list[str]
    notes: list[str] = field(default_factory=list)


def _new_key(algorithm: Algorithm) -> tuple[SigningKey, bytes]:
    """A new private key and its file contents (PKCS#8 PEM, or dkimpy's base64 seed)."""
    if algorithm == "rsa-sha256":
        private: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey = \
            rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
        data = private.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
    else:
        private = ed25519.Ed25519PrivateKey.generate()
        seed = private.private_bytes(serialization.Encoding.Raw,
                                     serialization.PrivateFormat.Raw,
                                     serialization.NoEncryption())
        data = base64.b64encode(seed) + b"\n"
    return SigningKey(algorithm, private, "new"), data


def write_private(path: Path, data: bytes) -> None:
    """`data` into a new file of mode 0600, whole or not at all; an existing one is kept."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.link(temporary, path)  # fails if the file appeared meanwhile: never replaced
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
    except FileExistsError:
        raise _exists(path) from None
    except OSError as exc:
        raise OutputError(f"cannot write the key: {exc.strerror}", path=path) from None


def _exists(path: Path) -> OutputError:
    return OutputError("a DKIM key is already there", path=path,
                       hint="a published key must not change: pick a new --selector")


def _targets(config: Config, settings: DKIMSettings, selector: str,
             algorithms: Sequence[Algorithm]) -> dict[Algorithm, Path]:
    """Where the signer will look for this selector's keys."""
    if settings.selector not in (None, selector):
        settings = settings.model_copy(update={"rsa_key_file": None, "ed25519_key_file": None})
    paths = key_paths(config, settings, selector)
    return {algorithm: paths[algorithm] for algorithm in algorithms}


def keygen(config: Config, selector: str, algorithms: Sequence[Algorithm] = ALGORITHMS, *,
           settings: DKIMSettings | None = None) -> KeygenReport:
    """New keys for `selector` (RSA 2048 and ed25519 by default), mode 0600, never replaced.

    They go where signing looks by default (dkim/<selector>.* beside newsletter.toml), so
    every later message is signed; the report holds the DNS records to publish first.
    """
    problem = selector_problem(selector)
    if problem:
        raise UsageError(problem)
    settings = settings or settings_of(config)
    targets = _targets(config, settings, selector, list(dict.fromkeys(algorithms)))
    for path in targets.values():
        if path.exists() or path.is_symlink():
            raise _exists(path)
    domain = settings.domain or message_domain(config).lower()
    report = KeygenReport(selector, domain, [], [])
    for algorithm, path in targets.items():
        key, data = _new_key(algorithm)
        write_private(path, data)
        report.written.append(path)
        report.records.append(txt_record(selector, domain, key.txt_value))
    report.notes += _use_notes(config, settings, selector)
    return report


def _use_notes(config: Config, settings: DKIMSettings, selector: str) -> list[str]:
    """Whether sending will use the new keys, and what to set if not."""
    if not settings.enabled:
        return ["signing is off ([dkim] enabled = false in newsletter.toml)"]
    try:
        plan = dkim_plan(config, settings)
    except ConfigError as exc:
        return [f"{exc.detail}: set [dkim] selector = \"{selector}\" once its records are "
                "published"]
    if plan is not None and plan.selector != selector:
        return [f"messages are still signed with selector {plan.selector} ([dkim] selector): "
                f"set it to \"{selector}\" once the new records are published"]
    return []


def records(config: Config, settings: DKIMSettings | None = None) -> list[str]:
    """The DNS TXT records of the keys messages are signed with (none when signing is off)."""
    signer = signer_for(config, settings)
    return signer.txt_records() if signer else []

