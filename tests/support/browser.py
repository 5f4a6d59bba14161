"""Browser-test helpers: Debian's chromium driven by Playwright, a preview server process,
and Datasette's wait-until-it-answers."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from playwright.sync_api import Browser, Playwright

from support.project import REPO

CHROMIUM = Path("/usr/bin/chromium")
# The bundled Playwright browser cannot be downloaded here; Debian's chromium is used instead.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = REPO / "test-artifacts"


def launch_chromium(playwright: Playwright) -> Browser:
    """Chromium, or a loud failure: a missing browser must not turn into skipped tests."""
    if not CHROMIUM.is_file():
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install chromium")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                      headless=True)


def wait_until_responds(url: str, timeout: float = 5.0) -> None:
    """Poll `url` until it answers (Datasette's helper): the server is ready then."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except (urllib.error.URLError, ConnectionError) as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} did not answer within {timeout}s: {exc}") from exc
            time.sleep(0.05)


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read()


def _default_sigint() -> None:
    # A shell runs background jobs with SIGINT ignored, and a child inherits that; Ctrl-C is
    # what this test sends, so the server must get Python's usual KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class PreviewProcess:
    """`newsletter preview --port 0 --no-open` in a subprocess, as a user runs it."""

    def __init__(self, root: Path, date: str) -> None:
        self.root = root
        self.date = date
        self.url = ""
        self.stdout: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        self.process: subprocess.Popen[str] | None = None
        self._readers: list[threading.Thread] = []

    def start(self, timeout: float = 10.0) -> PreviewProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "newsletter", "preview", "--date", self.date, "--port", "0",
             "--no-open"], cwd=self.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, preexec_fn=_default_sigint)
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, self.stdout.put)),
            threading.Thread(target=self._read, args=(self.process.stderr, self.stderr.append))]
        for reader in self._readers:
            reader.start()
        try:
            line = self.stdout.get(timeout=timeout)
        except queue.Empty:
            self.stop()
            raise AssertionError(f"preview printed no URL: {''.join(self.stderr)}") from None
        match = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert match, line
        self.url = match[0]
        wait_until_responds(self.url)
        return self

    @staticmethod
    def _read(stream, put) -> None:
        for line in stream:
            put(line)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> int:
        """Ctrl-C, as a user stops it; returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError("preview did not stop on Ctrl-C within 10 s") from None
        finally:
            for reader in self._readers:
                reader.join(timeout=5)
            for stream in (self.process.stdout, self.process.stderr):
                if stream:
                    stream.close()
        return code
