"""DKIM signing in child processes, beside a send's worker threads (which share one GIL).

Measured against signing in the worker threads (bench/dkim_bench.py): it helps only when a
core is free, so `newsletter send` signs in its threads; this stays for the comparison.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import signal
import struct
import subprocess
import sys
from pathlib import Path
from typing import IO

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from newsletter.mail.dkim import DKIMSigner
from newsletter.mail.dkim_keys import PARSERS, SigningKey

_FRAME = struct.Struct(">I")
# The child imports this very package, wherever it was imported from here.
_SERVE = (f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r}); "
          "from newsletter.mail.dkim_processes import serve_signing; serve_signing()")


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
    keys = [PARSERS[algorithm](data.encode(), "the parent process", None)
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
