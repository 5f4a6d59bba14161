"""DKIM signatures (RFC 6376): rsa-sha256 and ed25519-sha256 (RFC 8463), relaxed/relaxed.

`DKIMSigner` is made once per issue from its keys; `sign(message)` prepends one
DKIM-Signature per key. The signature is dkimpy's, tag for tag and byte for byte: its header
is laid out and folded by dkimpy's own functions, and the message is parsed, canonicalised
and hashed as dkimpy does it (tests compare both with dkimpy's `sign()` and `verify()`). Only
the speed differs: dkimpy's `sign()` takes 9-12 ms a message (BENCHMARKS.md), ours about
0.5 ms. The RSA private-key operation runs in OpenSSL (through `cryptography`) instead of
Python integers (6-8 ms), the key is parsed once per issue instead of per message, the body
is canonicalised without a regular expression that matches every single space (1-2 ms),
and the headers without one per line; what both signatures share is done once.

`SigningProcesses` runs the signing in child processes, beside a send's worker threads,
which share one GIL.

Keys come from $NEWSLETTER_DKIM_RSA_KEY / $NEWSLETTER_DKIM_ED25519_KEY, else from files that
only their owner may read (mode 0600), by default dkim/<selector>.rsa.pem and
dkim/<selector>.ed25519.key beside newsletter.toml. No key material is ever put in a message,
an error or a repr.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import queue
import re
import signal
import stat
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import dkim  # type: ignore[import-untyped]
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from dkim.canonicalization import (  # type: ignore[import-untyped]
    Relaxed,
    correct_empty_body,
    strip_trailing_lines,
)

from newsletter.config import Config
from newsletter.errors import ConfigError
from newsletter.mail.dkim_settings import ALGORITHMS, Algorithm, DKIMSettings, selector_problem
from newsletter.mail.headers import message_domain

RSA_ENV, ED25519_ENV = "NEWSLETTER_DKIM_RSA_KEY", "NEWSLETTER_DKIM_ED25519_KEY"
RSA_SUFFIX, ED25519_SUFFIX = ".rsa.pem", ".ed25519.key"
MIN_RSA_BITS = 1024  # RFC 8301; keygen makes 2048
# h=: each field once per copy in the message and once more, so an added copy breaks the
# signature (over-signing). List-Unsubscribe-Post is not in dkimpy's default list.
SIGNED_HEADERS = (b"from", b"to", b"subject", b"date", b"message-id", b"mime-version",
                  b"content-type", b"list-id", b"list-unsubscribe", b"list-unsubscribe-post")
_SIGNED_IF_PRESENT = (b"reply-to",)
_HEADER = b"DKIM-Signature"
_SPACES = re.compile(rb" +")
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


_PARSERS: dict[Algorithm, Callable[[bytes, str, Path | None], SigningKey]] = {
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
            return _PARSERS[self.algorithm](os.environ[self.env].encode(), f"${self.env}",
                                            None)
        return _PARSERS[self.algorithm](read_key_file(self.path), str(self.path), self.path)


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


def signer_for(config: Config, settings: DKIMSettings | None = None) -> DKIMSigner | None:
    """The issue's signer, or None when signing is off; ConfigError for a key that fails."""
    plan = dkim_plan(config, settings)
    if plan is None:
        return None
    return DKIMSigner(plan.domain, plan.selector, [source.load() for source in plan.sources])


# --- signing ----------------------------------------------------------------------------


def relaxed_body(body: bytes) -> bytes:
    """dkimpy's relaxed body canonicalisation, with the same result, in far less time.

    dkimpy replaces every run of spaces and tabs, each single space included (about 5,000 in
    one of our bodies), by a regular expression. Without tabs or spaces before a line end,
    only runs of two or more spaces change, and `bytes.find` skips to them.
    """
    if b"\t" in body or b" \r\n" in body:
        return Relaxed.canonicalize_body(body)
    at = body.find(b"  ")
    if at >= 0:
        pieces, start = [], 0
        while at >= 0:
            end = _SPACES.match(body, at).end()  # type: ignore[union-attr]
            pieces.append(body[start:at + 1])
            start, at = end, body.find(b"  ", end)
        pieces.append(body[start:])
        body = b"".join(pieces)
    return correct_empty_body(strip_trailing_lines(body))


def relaxed_header(name: bytes, value: bytes) -> tuple[bytes, bytes]:
    """dkimpy's relaxed canonical form of one header field (same result, fewer regexes)."""
    unfolded = value.replace(b"\r\n", b"")
    if b"\n" in unfolded or b"\t" in unfolded or b"  " in unfolded:
        return Relaxed.canonicalize_headers([(name, value)])[0]
    return name.lower().rstrip(), unfolded.strip() + b"\r\n"


_FIELD_NAME = re.compile(rb"[\x21-\x7e]+")


def _parse_head(head: bytes) -> list[list[bytes]] | None:
    """dkimpy's rfc822_parse of a CRLF header block, without its regexes; None: let it."""
    headers: list[list[bytes]] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and headers:
            headers[-1][1] += line + b"\r\n"
            continue
        name, colon, value = line.partition(b":")
        if not colon or not _FIELD_NAME.fullmatch(name):
            return None  # a folded first line, a "From " line, a bad name: dkimpy decides
        headers.append([name, value + b"\r\n"])
    return headers


def split_message(message: bytes) -> tuple[list[list[bytes]], bytes]:
    """(headers as [name, value with CRLF], body) as dkimpy's parser would give them."""
    head, separator, body = message.partition(b"\r\n\r\n")
    if separator and message.count(b"\n") == message.count(b"\r\n"):
        headers = _parse_head(head)
        if headers is not None:
            return headers, body
    return dkim.rfc822_parse(message)  # bare LF, no body, or an odd header line


def signed_headers(canonical: list[tuple[bytes, bytes]], include: tuple[bytes, ...]) -> bytes:
    """The bytes dkimpy's hash_headers hashes for the fields of h= (select_headers' choice:
    each name takes the nearest copy above the last one it took, bottom-up)."""
    positions: dict[bytes, list[int]] = {}
    for index, (name, _) in enumerate(canonical):
        positions.setdefault(name, []).append(index)
    out = []
    for name in include:
        found = positions.get(name)
        if found:
            name, value = canonical[found.pop()]
            out.append(name + b":" + value)
    return b"".join(out)


class DKIMSigner:
    """Signs messages for one domain and selector with one or two keys (RSA, ed25519)."""

    def __init__(self, domain: str, selector: str, keys: Sequence[SigningKey], *,
                 clock: Callable[[], float] = time.time) -> None:
        """`clock` gives t= (seconds since the epoch); tests fix it to compare with dkimpy."""
        if not keys:
            raise ValueError("a DKIMSigner needs at least one key")
        self.domain, self.selector = domain, selector
        self.keys = tuple(sorted(keys, key=lambda key: ALGORITHMS.index(key.algorithm)))
        self._clock = clock
        self._d, self._s = domain.encode("ascii"), selector.encode("ascii")

    def __repr__(self) -> str:
        algorithms = ", ".join(key.algorithm for key in self.keys)
        return f"DKIMSigner(d={self.domain}, s={self.selector}, {algorithms})"

    @property
    def algorithms(self) -> tuple[str, ...]:
        return tuple(key.algorithm for key in self.keys)

    def txt_records(self) -> list[str]:
        """The DNS records to publish, one per key."""
        return [txt_record(self.selector, self.domain, key.txt_value) for key in self.keys]

    def sign(self, message: bytes) -> bytes:
        """The message with a DKIM-Signature header per key in front of it (CRLF line ends)."""
        headers, body = split_message(message)
        body_hash = base64.b64encode(hashlib.sha256(relaxed_body(body)).digest())
        canonical = [relaxed_header(name, value) for name, value in headers]
        present = {name for name, _ in canonical}
        names = SIGNED_HEADERS + tuple(n for n in _SIGNED_IF_PRESENT if n in present)
        counts = {name: 1 for name in names}
        for name, _ in canonical:
            if name in counts:
                counts[name] += 1
        # Each name once per copy present and once more: copies are signed bottom-up.
        include = tuple(name for name in names for _ in range(counts[name]))
        signed = signed_headers(canonical, include)
        stamp = str(int(self._clock())).encode("ascii")
        out = [self._signature(key, signed, include, body_hash, stamp) for key in self.keys]
        out.append(message)
        return b"".join(out)

    def _signature(self, key: SigningKey, signed: bytes, include: tuple[bytes, ...],
                   body_hash: bytes, stamp: bytes) -> bytes:
        """What dkimpy's DKIM.sign + gen_header make, with the key's own signing operation.

        The signed header fields are hashed, then this header itself with an empty b=,
        relaxed and without its line end (RFC 6376 3.7).
        """
        fields = [(b"v", b"1"), (b"a", key.algorithm.encode("ascii")),
                  (b"c", b"relaxed/relaxed"), (b"d", self._d), (b"i", b"@" + self._d),
                  (b"q", b"dns/txt"), (b"s", self._s), (b"t", stamp),
                  (b"h", b" : ".join(include)), (b"bh", body_hash), (b"b", b"0" * 60)]
        value = dkim.fold(b"; ".join(b"=".join(field) for field in fields),
                          namelen=len(_HEADER), linesep=b"\r\n")
        name, unsigned = relaxed_header(_HEADER, b" " + dkim.RE_BTAG.sub(b"\\1", value))
        digest = hashlib.sha256(signed + name + b":" + unsigned.rstrip()).digest()
        fields[-1] = (b"b", base64.b64encode(key.sign_digest(digest)))
        value = b"; ".join(b"=".join(field) for field in fields) + b"\r\n"
        return _HEADER + b": " + dkim.fold(value, namelen=len(_HEADER), linesep=b"\r\n")


def dkimpy_sign(message: bytes, key_data: bytes, algorithm: Algorithm, selector: str,
                domain: str) -> bytes:
    """The reference: dkimpy's own `sign()` with our parameters (slow; tests and the bench).

    `key_data` is what dkimpy takes: PEM for RSA, the base64 seed for ed25519.
    """
    headers, _ = split_message(message)
    present = {name.lower().rstrip() for name, _ in headers}
    names = SIGNED_HEADERS + tuple(n for n in _SIGNED_IF_PRESENT if n in present)
    counts = {name: 1 + sum(1 for h, _ in headers if h.lower().rstrip() == name)
              for name in names}
    include = [name for name in names for _ in range(counts[name])]
    signature: bytes = dkim.sign(message, selector.encode(), domain.encode(), key_data,
                                 signature_algorithm=algorithm.encode(),
                                 canonicalize=(b"relaxed", b"relaxed"),
                                 include_headers=include, linesep=b"\r\n")
    return signature + message


# --- signing in other processes -------------------------------------------------------------

_FRAME = struct.Struct(">I")
# The child imports this very package, wherever it was imported from here.
_SERVE = (f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r}); "
          "from newsletter.mail.dkim import serve_signing; serve_signing()")


def _write_frame(stream: IO[bytes], data: bytes) -> None:
    stream.write(_FRAME.pack(len(data)) + data)
    stream.flush()


def _read_frame(stream: IO[bytes]) -> bytes:
    head = stream.read(_FRAME.size)
    if len(head) < _FRAME.size:
        raise EOFError
    data = stream.read(_FRAME.unpack(head)[0])
    if len(data) < _FRAME.unpack(head)[0]:
        raise EOFError
    return data


def _private_bytes(key: SigningKey) -> str:
    if isinstance(key.private, rsa.RSAPrivateKey):
        data = key.private.private_bytes(serialization.Encoding.DER,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption())
    else:
        data = key.private.private_bytes(serialization.Encoding.Raw,
                                         serialization.PrivateFormat.Raw,
                                         serialization.NoEncryption())
    return base64.b64encode(data).decode("ascii")


def serve_signing() -> None:
    """A signing process: keys on the first frame of stdin, then message in, headers out.

    Ctrl-C is the parent's to handle (it finishes the messages in flight); the end of stdin,
    the parent closing it or dying, ends this process.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    spec = json.loads(_read_frame(sys.stdin.buffer))
    keys = [_PARSERS[algorithm](data.encode(), "the parent process", None)
            for algorithm, data in spec["keys"]]
    signer = DKIMSigner(spec["domain"], spec["selector"], keys)
    out = sys.stdout.buffer
    while True:
        try:
            message = _read_frame(sys.stdin.buffer)
        except EOFError:
            return
        _write_frame(out, signer.sign(message)[:-len(message)] if message else b"")


class SigningProcesses:
    """`DKIMSigner.sign` spread over child processes, for a send's worker threads.

    Signing is CPU work in Python and OpenSSL that holds the GIL (about 0.5 ms a message),
    and the send's threads share one GIL: in other processes it runs beside them, on other
    cores. The keys go to each child through its stdin, never its command line or
    environment. Use as a context manager; `sign` is safe from any number of threads.
    """

    def __init__(self, signer: DKIMSigner, processes: int | None = None) -> None:
        self._idle: queue.SimpleQueue[subprocess.Popen[bytes]] = queue.SimpleQueue()
        self._children: list[subprocess.Popen[bytes]] = []
        spec = json.dumps({"domain": signer.domain, "selector": signer.selector,
                           "keys": [[key.algorithm, _private_bytes(key)]
                                    for key in signer.keys]}).encode()
        try:
            for _ in range(max(1, processes or os.cpu_count() or 1)):
                child = subprocess.Popen([sys.executable, "-c", _SERVE], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, start_new_session=True)
                self._children.append(child)
                assert child.stdin is not None
                _write_frame(child.stdin, spec)
                self._idle.put(child)
        except BaseException:
            self.close()
            raise

    def sign(self, message: bytes) -> bytes:
        """The message with its DKIM-Signature headers, signed by an idle child."""
        child = self._idle.get()
        try:
            assert child.stdin is not None and child.stdout is not None
            _write_frame(child.stdin, message)
            headers = _read_frame(child.stdout)
        except (OSError, EOFError):
            raise RuntimeError("a DKIM signing process stopped") from None
        finally:
            self._idle.put(child)
        return headers + message

    def close(self) -> None:
        """End every child (the end of its stdin) and wait for it."""
        for child in self._children:
            for stream in (child.stdin, child.stdout):
                if stream is not None:
                    stream.close()
        for child in self._children:
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self._children.clear()

    def __enter__(self) -> SigningProcesses:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
