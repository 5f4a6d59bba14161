"""DKIM keys: read from the environment or from files only their owner may read, checked, and
planned per the [dkim] settings (which selector, which algorithms, where the keys are).

Keys come from $NEWSLETTER_DKIM_RSA_KEY / $NEWSLETTER_DKIM_ED25519_KEY, else from files of mode
0600, by default dkim/<selector>.rsa.pem and dkim/<selector>.ed25519.key beside
newsletter.toml. No key material is ever put in a message, an error or a repr.
"""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from newsletter.config import Config
from newsletter.errors import ConfigError
from newsletter.mail.dkim_settings import ALGORITHMS, Algorithm, DKIMSettings, selector_problem
from newsletter.mail.headers import message_domain

RSA_ENV, ED25519_ENV = "NEWSLETTER_DKIM_RSA_KEY", "NEWSLETTER_DKIM_ED25519_KEY"
RSA_SUFFIX, ED25519_SUFFIX = ".rsa.pem", ".ed25519.key"
MIN_RSA_BITS = 1024  # RFC 8301; keygen makes 2048
_PKCS1 = padding.PKCS1v15()
_SHA256 = Prehashed(hashes.SHA256())

PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey



class SigningKey:
    """One private key and its algorithm. Its repr names where it came from, nothing else."""

    def __init__(self, algorithm: Algorithm, private: PrivateKey, source: str) -> None:
        self.algorithm, self.private, self.source = algorithm, private, source

    def __repr__(self) -> str:
        return f"SigningKey({self.algorithm}, from {self.source})"

    def sign_digest(self, digest: bytes) -> bytes:
        """The signature of a SHA-256 digest (RFC 8463 signs the digest with ed25519 too)."""
        if isinstance(self.private, rsa.RSAPrivateKey):
            return self.private.sign(digest, _PKCS1, _SHA256)
        return self.private.sign(digest)

    @property
    def public_value(self) -> str:
        """p= of the DNS record: the SubjectPublicKeyInfo (RSA) or the raw 32 bytes (ed25519)."""
        public = self.private.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            data = public.public_bytes(serialization.Encoding.DER,
                                       serialization.PublicFormat.SubjectPublicKeyInfo)
        else:
            data = public.public_bytes(serialization.Encoding.Raw,
                                       serialization.PublicFormat.Raw)
        return base64.b64encode(data).decode("ascii")

    @property
    def txt_value(self) -> str:
        """The TXT record's text: v=DKIM1; k=rsa|ed25519; p=..."""
        kind = "rsa" if self.algorithm == "rsa-sha256" else "ed25519"
        return f"v=DKIM1; k={kind}; p={self.public_value}"


def txt_record(selector: str, domain: str, value: str) -> str:
    """The zone-file line: strings over 255 characters are split, as DNS requires."""
    strings = " ".join(f'"{value[at:at + 255]}"' for at in range(0, len(value), 255))
    return f"{selector}._domainkey.{domain}. IN TXT {strings}"


# --- keys -------------------------------------------------------------------------------


def _key_error(message: str, source: str, path: Path | None, code: str,
               hint: str | None = None) -> ConfigError:
    where = None if path else source
    return ConfigError(f"DKIM key {where + ': ' if where else ''}{message}", path=path,
                       hint=hint, code=code)


def parse_rsa_key(data: bytes, source: str, path: Path | None = None) -> SigningKey:
    """A PEM RSA private key (PKCS#1 or PKCS#8), or the base64 of its DER without the armour."""
    text = data.strip()
    try:
        if text.startswith(b"-----BEGIN"):
            private = serialization.load_pem_private_key(text, password=None)
        else:
            private = serialization.load_der_private_key(base64.b64decode(text, validate=True),
                                                         password=None)
    except (ValueError, TypeError):  # binascii.Error is a ValueError
        # The library's message is not shown: it could quote the key.
        raise _key_error("is not a PEM RSA private key without a passphrase", source, path,
                         "dkim-key-invalid") from None
    if not isinstance(private, rsa.RSAPrivateKey):
        raise _key_error("is not an RSA key", source, path, "dkim-key-invalid")
    if private.key_size < MIN_RSA_BITS:
        raise _key_error(f"has {private.key_size} bits, fewer than the {MIN_RSA_BITS} that "
                         "receivers accept (RFC 8301)", source, path, "dkim-key-invalid",
                         hint="make a new one with `newsletter dkim keygen`")
    return SigningKey("rsa-sha256", private, source)


def parse_ed25519_key(data: bytes, source: str, path: Path | None = None) -> SigningKey:
    """An ed25519 private key as dkimpy keeps it (base64 of the 32-byte seed), raw, or PEM."""
    text = data.strip()
    try:
        if text.startswith(b"-----BEGIN"):
            private = serialization.load_pem_private_key(text, password=None)
        else:
            seed = data if len(data) == 32 else base64.b64decode(text, validate=True)
            private = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    except (ValueError, TypeError):  # binascii.Error is a ValueError
        raise _key_error("is not an ed25519 private key (the base64 of its 32-byte seed, "
                         "or PEM)", source, path, "dkim-key-invalid") from None
    if not isinstance(private, ed25519.Ed25519PrivateKey):
        raise _key_error("is not an ed25519 key", source, path, "dkim-key-invalid")
    return SigningKey("ed25519-sha256", private, source)


def read_key_file(path: Path) -> bytes:
    """The bytes of a key file that only its owner can read or write (mode 0600 or 0400)."""
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise _key_error(f"file is open to other users (mode {stat.S_IMODE(mode):04o})",
                             str(path), path, "dkim-key-mode", hint=f"run: chmod 600 {path}")
        return path.read_bytes()
    except FileNotFoundError:
        raise _key_error("file does not exist", str(path), path, "dkim-key-missing",
                         hint="make it with `newsletter dkim keygen --selector S`, or fix "
                              "[dkim] in newsletter.toml") from None
    except OSError as exc:
        raise _key_error(f"file cannot be read: {exc.strerror}", str(path), path,
                         "dkim-key-unreadable") from None


PARSERS: dict[Algorithm, Callable[[bytes, str, Path | None], SigningKey]] = {
    "rsa-sha256": parse_rsa_key, "ed25519-sha256": parse_ed25519_key}


@dataclass(frozen=True)
class KeySource:
    """Where one algorithm's key is looked for: the environment first, then a file."""

    algorithm: Algorithm
    env: str
    path: Path
    required: bool

    @property
    def env_used(self) -> bool:
        return bool(os.environ.get(self.env))

    def present(self) -> bool:
        return self.env_used or self.path.exists() or self.path.is_symlink()

    def load(self) -> SigningKey:
        """The key, or ConfigError saying what is wrong with it (never quoting it)."""
        if self.env_used:
            return PARSERS[self.algorithm](os.environ[self.env].encode(), f"${self.env}",
                                            None)
        return PARSERS[self.algorithm](read_key_file(self.path), str(self.path), self.path)


@dataclass(frozen=True)
class DKIMPlan:
    """Who signs and the key of each algorithm to sign with, before any key is read."""

    selector: str
    domain: str
    sources: tuple[KeySource, ...]


def settings_of(config: Config) -> DKIMSettings:
    """[dkim] of this config (its defaults while Config has no `dkim` field)."""
    settings = getattr(config, "dkim", None)
    return settings if isinstance(settings, DKIMSettings) else DKIMSettings()


def key_paths(config: Config, settings: DKIMSettings, selector: str) -> dict[Algorithm, Path]:
    """Where each algorithm's key file of `selector` is (whether it exists or not)."""
    folder = config.resolve(settings.key_dir)
    return {
        "rsa-sha256": config.resolve(settings.rsa_key_file) if settings.rsa_key_file
        else folder / f"{selector}{RSA_SUFFIX}",
        "ed25519-sha256": config.resolve(settings.ed25519_key_file)
        if settings.ed25519_key_file else folder / f"{selector}{ED25519_SUFFIX}",
    }


def selectors_in(folder: Path) -> list[str]:
    """The selectors that have a key file in `folder`."""
    if not folder.is_dir():
        return []
    names = {path.name.removesuffix(suffix) for suffix in (RSA_SUFFIX, ED25519_SUFFIX)
             for path in folder.glob(f"*{suffix}")}
    return sorted(name for name in names if not selector_problem(name))


def _selector(config: Config, settings: DKIMSettings, wanted: bool) -> str | None:
    if settings.selector:
        return settings.selector
    found = selectors_in(config.resolve(settings.key_dir))
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise ConfigError(f"DKIM keys of several selectors in {settings.key_dir}/: "
                          f"{', '.join(found)}", path=config.config_path,
                          hint="set [dkim] selector to the one published in DNS",
                          code="dkim-selector")
    if wanted:
        raise ConfigError("DKIM signing is configured but no selector is known",
                          path=config.config_path, code="dkim-selector",
                          hint="set [dkim] selector, or run `newsletter dkim keygen "
                               "--selector S`")
    return None


def dkim_plan(config: Config, settings: DKIMSettings | None = None) -> DKIMPlan | None:
    """What signing is asked for: None when it is off (no key anywhere, nothing configured).

    A configured [dkim], or a key in the environment, turns signing on: a key that is then
    missing is a ConfigError (raised by `KeySource.load`), never a silently unsigned send.
    """
    settings = settings or settings_of(config)
    if not settings.enabled:
        return None
    from_env = any(os.environ.get(name) for name in (RSA_ENV, ED25519_ENV))
    selector = _selector(config, settings, settings.configured or from_env)
    if selector is None:
        return None
    paths = key_paths(config, settings, selector)
    envs: dict[Algorithm, str] = {"rsa-sha256": RSA_ENV, "ed25519-sha256": ED25519_ENV}
    named = {"rsa-sha256": settings.rsa_key_file, "ed25519-sha256": settings.ed25519_key_file}
    wanted = settings.algorithms
    # A listed algorithm or a key file named in [dkim] must be there; others are optional.
    sources = [KeySource(algorithm, envs[algorithm], paths[algorithm],
                         wanted is not None or named[algorithm] is not None)
               for algorithm in (wanted or ALGORITHMS)]
    if wanted is None:
        sources = [source for source in sources if source.required or source.present()]
        if not sources:  # a selector was given or found, but neither key is there
            sources = [KeySource(ALGORITHMS[0], RSA_ENV, paths["rsa-sha256"], True)]
    return DKIMPlan(selector, settings.domain or message_domain(config).lower(),
                    tuple(sources))
