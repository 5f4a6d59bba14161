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

Keys and their plan are in dkim_keys.py; signing in child processes (a measured
alternative) in dkim_processes.py.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Callable, Sequence

import dkim  # type: ignore[import-untyped]
from dkim.canonicalization import (  # type: ignore[import-untyped]
    Relaxed,
    correct_empty_body,
    strip_trailing_lines,
)

from newsletter.config import Config
from newsletter.mail.dkim_keys import (
    ED25519_ENV,
    RSA_ENV,
    SigningKey,
    dkim_plan,
    parse_ed25519_key,
    parse_rsa_key,
    txt_record,
)
from newsletter.mail.dkim_settings import ALGORITHMS, Algorithm, DKIMSettings

__all__ = ["ED25519_ENV", "RSA_ENV", "SIGNED_HEADERS", "DKIMSigner", "dkimpy_sign",
           "parse_ed25519_key", "parse_rsa_key", "signer_for"]

# h=: each field once per copy in the message and once more, so an added copy breaks the
# signature (over-signing). List-Unsubscribe-Post is not in dkimpy's default list.
SIGNED_HEADERS = (b"from", b"to", b"subject", b"date", b"message-id", b"mime-version",
                  b"content-type", b"list-id", b"list-unsubscribe", b"list-unsubscribe-post",
                  b"feedback-id")  # Gmail's feedback loop wants Feedback-ID signed
_SIGNED_IF_PRESENT = (b"reply-to",)
_HEADER = b"DKIM-Signature"
_SPACES = re.compile(rb" +")




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
