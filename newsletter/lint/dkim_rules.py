"""`newsletter check` on DKIM: a signing key that is configured but cannot be used.

The same resolution as sending (`mail.dkim.dkim_plan`), so check finds what would stop a
send: a key missing, unreadable, open to other users, not a key, or several selectors with
none chosen. Nothing is reported when signing is off (no [dkim], no key).
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import rsa

from newsletter.config import Config
from newsletter.diagnostics import Diagnostic
from newsletter.errors import ConfigError
from newsletter.mail.dkim_keys import dkim_plan
from newsletter.mail.dkim_settings import DKIMSettings

RECOMMENDED_RSA_BITS = 2048


def dkim_findings(config: Config, settings: DKIMSettings | None = None) -> list[Diagnostic]:
    """One finding per DKIM key problem (codes dkim-key-*, dkim-selector)."""
    try:
        plan = dkim_plan(config, settings)
    except ConfigError as exc:
        return [Diagnostic.from_error(exc, exc.code)]
    if plan is None:
        return []
    findings = []
    for source in plan.sources:
        try:
            key = source.load()
        except ConfigError as exc:
            findings.append(Diagnostic.from_error(exc, exc.code))
            continue
        if isinstance(key.private, rsa.RSAPrivateKey) \
                and key.private.key_size < RECOMMENDED_RSA_BITS:
            findings.append(Diagnostic(
                "warning", None if source.env_used else source.path, None,
                f"DKIM RSA key has {key.private.key_size} bits, fewer than "
                f"{RECOMMENDED_RSA_BITS}", "make a new one with `newsletter dkim keygen` "
                "under a new selector", "dkim-key-weak"))
    return findings
