"""The reference SMTP tools: Postfix's smtp-sink and smtp-source, from Debian's postfix package.

Only the two test programs are used. When they are missing and we are root on Debian, the
package is installed with "No configuration" and a policy-rc.d that forbids starting services,
so the Postfix daemon never runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

SMTP_SINK = "/usr/sbin/smtp-sink"
SMTP_SOURCE = "/usr/sbin/smtp-source"
_POLICY = Path("/usr/sbin/policy-rc.d")


def _present() -> bool:
    return all(os.access(tool, os.X_OK) for tool in (SMTP_SINK, SMTP_SOURCE))


def ensure_installed() -> None:
    if _present():
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise SystemExit(f"bench: {SMTP_SINK} and {SMTP_SOURCE} are needed: install Debian's "
                         "postfix package (as root: apt-get install postfix; the daemon need "
                         "not run)")
    print("bench: installing Debian's postfix for smtp-sink and smtp-source "
          "(the daemon is not started)", flush=True)
    subprocess.run(["debconf-set-selections"], check=True, text=True,
                   input="postfix postfix/main_mailer_type select No configuration\n")
    placed_policy = not _POLICY.exists()
    if placed_policy:
        _POLICY.write_text("#!/bin/sh\n# installed by newsletter's bench: start no services\n"
                           "exit 101\n")
        _POLICY.chmod(0o755)
    apt = {"check": True, "stdout": subprocess.DEVNULL,
           "env": {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}}
    try:
        subprocess.run(["apt-get", "update", "-q"], **apt)
        subprocess.run(["apt-get", "install", "-y", "-q", "postfix"], **apt)
    finally:
        if placed_policy:
            _POLICY.unlink()
    if not _present():
        raise SystemExit("bench: postfix installed, but smtp-sink or smtp-source is missing")
