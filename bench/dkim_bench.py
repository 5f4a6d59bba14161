"""DKIM signing: what it costs per message, and the signed send against the unsigned one.

`python -m bench.dkim_bench [--quick]` (after the README's set-up; the send needs Postfix's
smtp-sink, which bench/postfix_tools.py installs). Every comparison runs in the same run,
alternating. The message is a reader's message of the bundled 2025-11-28 issue (about 38 KB),
signed with new keys (RSA 2048, ed25519) made in memory.

1. Per message, in microseconds: dkimpy's own `sign()`, ours, and their parts (parsing,
   body canonicalisation, body hash, the private-key operations).
2. Building messages in process: unsigned, and built + signed.
3. The whole SMTP send into smtp-sink (4 connections, ledger on), unsigned and signed: the
   send of `newsletter send`, in process, with the signer applied to every message built.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import hashlib
import os
import resource
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dkim
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from dkim.canonicalization import Relaxed

from newsletter.config import load_config
from newsletter.mail.dkim import (
    DKIMSigner,
    dkimpy_sign,
    parse_ed25519_key,
    parse_rsa_key,
    relaxed_body,
    split_message,
)
from newsletter.mail.dkim_processes import SigningProcesses

from . import delivery_bench, render_bench
from .measure import Figure, summarize

DATE = delivery_bench.DATE
ALGORITHMS = ("rsa-sha256", "ed25519-sha256")


def _keys() -> dict[str, bytes]:
    """Key files as dkimpy takes them: PEM for RSA, the base64 seed for ed25519."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    seed = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
        serialization.NoEncryption())
    return {"rsa-sha256": private.private_bytes(serialization.Encoding.PEM,
                                                serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()),
            "ed25519-sha256": base64.b64encode(seed)}


def _signer(keys: dict[str, bytes], *algorithms: str) -> DKIMSigner:
    parsed = {"rsa-sha256": parse_rsa_key(keys["rsa-sha256"], "bench"),
              "ed25519-sha256": parse_ed25519_key(keys["ed25519-sha256"], "bench")}
    return DKIMSigner("example.org", "bench", [parsed[a] for a in algorithms])


def _micros(function: Callable[[], object], calls: int, rounds: int = 5) -> list[float]:
    """Microseconds per call: the mean of each round of `calls`, `rounds` rounds."""
    function()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            function()
        samples.append((time.perf_counter() - start) / calls * 1e6)
    return samples


def per_message(message: bytes, keys: dict[str, bytes], calls: int) -> list[Figure]:
    """The cost of each step of signing one message, dkimpy's way and ours."""
    headers, body = split_message(message)
    rsa_key = parse_rsa_key(keys["rsa-sha256"], "bench").private
    ed_key = parse_ed25519_key(keys["ed25519-sha256"], "bench").private
    assert isinstance(rsa_key, rsa.RSAPrivateKey)
    assert isinstance(ed_key, ed25519.Ed25519PrivateKey)
    python_rsa = dkim.crypto.parse_pem_private_key(keys["rsa-sha256"])
    digest = hashlib.sha256(b"headers")
    slow = max(3, calls // 50)
    ours = {"rsa": _signer(keys, "rsa-sha256"), "ed25519": _signer(keys, "ed25519-sha256"),
            "both": _signer(keys, *ALGORITHMS)}
    rows: list[tuple[str, Callable[[], object], int]] = [
        ("dkimpy sign(), rsa-sha256", lambda: dkimpy_sign(
            message, keys["rsa-sha256"], "rsa-sha256", "bench", "example.org"), slow),
        ("dkimpy sign(), ed25519-sha256", lambda: dkimpy_sign(
            message, keys["ed25519-sha256"], "ed25519-sha256", "bench", "example.org"), slow),
        ("ours, rsa-sha256", lambda: ours["rsa"].sign(message), calls),
        ("ours, ed25519-sha256", lambda: ours["ed25519"].sign(message), calls),
        ("ours, both signatures", lambda: ours["both"].sign(message), calls),
        ("  part: dkimpy parses the whole message (rfc822_parse)",
         lambda: dkim.rfc822_parse(message), calls),
        ("  part: ours splits it (headers parsed by dkimpy)", lambda: split_message(message),
         calls),
        ("  part: dkimpy's relaxed body canonicalisation", lambda: Relaxed.canonicalize_body(body),
         slow),
        ("  part: ours, the same bytes", lambda: relaxed_body(body), calls),
        ("  part: body hash, SHA-256 of 38 KB", lambda: hashlib.sha256(body).digest(), calls),
        ("  part: dkimpy parses the PEM key (each sign())",
         lambda: dkim.crypto.parse_pem_private_key(keys["rsa-sha256"]), slow),
        ("  part: RSA-2048 signature, dkimpy's Python integers",
         lambda: dkim.crypto.RSASSA_PKCS1_v1_5_sign(digest, python_rsa), slow),
        ("  part: RSA-2048 signature, OpenSSL (cryptography)", lambda: rsa_key.sign(
            digest.digest(), padding.PKCS1v15(), Prehashed(hashes.SHA256())), calls),
        ("  part: ed25519 signature, OpenSSL (cryptography)",
         lambda: ed_key.sign(digest.digest()), calls),
    ]
    assert relaxed_body(body) == Relaxed.canonicalize_body(body)
    assert len(headers) > 5
    figures = [summarize(name, "µs", _micros(function, count)) for name, function, count in rows]
    dkimpy_rsa, ours_rsa = figures[0].median, figures[2].median
    figures[2].note = f"{dkimpy_rsa / ours_rsa:.0f}x faster than dkimpy's sign()"
    return figures


def build_rates(template: Any, keys: dict[str, bytes], count: int, runs: int) -> list[Figure]:
    """Messages built per second, unsigned and signed, alternating in one run."""
    readers = [(index + 1, *delivery_bench.reader(index)) for index in range(count)]
    ways: dict[str, Callable[[bytes], bytes]] = {
        "build messages, unsigned": lambda data: data,
        "build + sign, rsa-sha256": _signer(keys, "rsa-sha256").sign,
        "build + sign, ed25519-sha256": _signer(keys, "ed25519-sha256").sign,
        "build + sign, both": _signer(keys, *ALGORITHMS).sign,
    }
    rates: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(runs):
        for name, sign in ways.items():
            start = time.perf_counter()
            for subscriber_id, address, name_ in readers:
                sign(template.build(subscriber_id, address, name_))
            rates[name].append(count / (time.perf_counter() - start))
    figures = [summarize(f"{name} ({count:,} readers)", "msg/s", samples)
               for name, samples in rates.items()]
    for figure in figures[1:]:
        figure.note = f"{figure.median / figures[0].median:.3f} of unsigned"
    return figures


class _Signed:
    """A template whose every message is signed: what the lead's hook does in the send."""

    def __init__(self, template: Any, signer: DKIMSigner | SigningProcesses) -> None:
        self._template, self._signer = template, signer

    def build(self, *args: Any, **kwargs: Any) -> bytes:
        return self._signer.sign(self._template.build(*args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._template, name)


@contextlib.contextmanager
def _signing(signer: DKIMSigner | SigningProcesses | None) -> Iterator[None]:
    from newsletter.commands import send

    original = send.message_template
    if signer is not None:
        send.message_template = lambda config, date: _Signed(original(config, date), signer)
    try:
        yield
    finally:
        send.message_template = original


def send_rates(root: Path, keys: dict[str, bytes], count: int, runs: int) -> list[Figure]:
    """The SMTP send into smtp-sink, unsigned and signed (both algorithms), alternating."""
    from newsletter.commands.send import send_issue

    config = load_config(root / "newsletter.toml")
    pristine = delivery_bench.subscribed_project(root, count)
    ways: dict[str, Any] = {"unsigned": None, "signed, rsa-sha256": _signer(keys, "rsa-sha256"),
                            "signed, both": _signer(keys, *ALGORITHMS),
                            "signed, both, in 2 signing processes": "pool"}
    rates: dict[str, list[float]] = {name: [] for name in ways}
    cpu: dict[str, list[float]] = {name: [] for name in ways}
    with delivery_bench.smtp_sink() as port, open(os.devnull, "w") as quiet:
        for _ in range(runs):
            for name, signer in ways.items():
                delivery_bench.reset_ledger(root, pristine)
                used = _cpu_seconds()
                start = time.perf_counter()
                pool = SigningProcesses(_signer(keys, *ALGORITHMS), 2) if signer == "pool" \
                    else None
                with _signing(pool or signer), pool or contextlib.nullcontext():
                    send_issue(config, dt.date.fromisoformat(DATE), transport="smtp",
                               smtp_url=f"smtp://127.0.0.1:{port}",
                               connections=delivery_bench.CONNECTIONS, stream=quiet, tty=False)
                rates[name].append(count / (time.perf_counter() - start))
                cpu[name].append((_cpu_seconds() - used) / count * 1e6)
                delivery_bench.check_ledger(config, count)
    figures = []
    for name in ways:
        figure = summarize(f"send {count:,} into smtp-sink, in process, {name}", "msg/s",
                           rates[name])
        figure.extra["cpu"] = statistics.median(cpu[name])
        figure.note = f"CPU {figure.extra['cpu']:.0f} µs/msg (this process and its children)"
        if figures:
            figure.note += (f"; {figure.median / figures[0].median:.2f} of unsigned "
                            "(target >= 0.5)")
        figures.append(figure)
    return figures


def _cpu_seconds() -> float:
    """User + system CPU of this process and of its children that have ended."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), \
        resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run(root: Path, quick: bool, send: bool = True) -> list[Figure]:
    """Every DKIM figure, on the project copy at `root` (what `python -m bench` can call)."""
    keys = _keys()
    template = delivery_bench._template(load_config(root / "newsletter.toml"))
    message = template.build(1, *delivery_bench.reader(0))
    figures = per_message(message, keys, 20 if quick else 400)
    figures[0].extra["size"] = len(message)
    figures += build_rates(template, keys, 200 if quick else 5_000, 1 if quick else 3)
    if send:
        figures += send_rates(root, keys, 300 if quick else 5_000, 1 if quick else 3)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a check it runs)")
    parser.add_argument("--skip-send", action="store_true", help="no smtp-sink send")
    options = parser.parse_args()
    root = render_bench.project_copy()
    figures = run(root, options.quick, send=not options.skip_send)
    print(f"message: {figures[0].extra['size']:,} bytes; {os.cpu_count()} cores")
    print("| benchmark | median | min | max | runs | note |\n|---|---|---|---|---|---|")
    for f in figures:
        print(f"| {f.name} | {f.median:,.1f} {f.unit} | {f.low:,.1f} | {f.high:,.1f} | "
              f"{f.runs} | {f.note} |")


if __name__ == "__main__":
    main()
