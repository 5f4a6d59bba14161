"""[dkim] in newsletter.toml: who signs (selector, domain) and with which keys.

Nothing needs setting: `newsletter dkim keygen --selector S` writes the keys into `key_dir`
(dkim/ beside newsletter.toml), and a key found there signs every message for the From domain.
The table is for the rest: several selectors in dkim/ (a key rotation), another domain, keys
kept elsewhere, one algorithm of two. Keys may also come from the environment
(NEWSLETTER_DKIM_RSA_KEY, NEWSLETTER_DKIM_ED25519_KEY), which takes precedence over files.

Pure pydantic on purpose: config.py holds this model without importing anything else of mail/.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Algorithm = Literal["rsa-sha256", "ed25519-sha256"]
ALGORITHMS: tuple[Algorithm, ...] = ("rsa-sha256", "ed25519-sha256")
# A selector is one or more DNS labels (RFC 6376 3.1): letters, digits, inner hyphens.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
SELECTOR = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
DOMAIN = re.compile(rf"(?:{_LABEL}\.)+{_LABEL}")


def selector_problem(value: str) -> str | None:
    """What is wrong with a selector, or None (also used for `keygen --selector`)."""
    if len(value) > 253 or not SELECTOR.fullmatch(value):
        return (f"{value!r} is not a valid selector: use DNS labels of letters, digits and "
                "inner hyphens, e.g. 2025-11 or news1")
    return None


class DKIMSettings(BaseModel):
    """[dkim]: every field is optional; signing turns on when a key is found."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True  # false: never sign, whatever keys exist
    selector: str | None = None  # default: the one selector with keys in key_dir
    domain: str | None = None  # d=; default: the domain of from_address
    key_dir: Path = Path("dkim")
    rsa_key_file: Path | None = None  # default: <key_dir>/<selector>.rsa.pem
    ed25519_key_file: Path | None = None  # default: <key_dir>/<selector>.ed25519.key
    # Default: every algorithm with a key. Listed ones must have their key.
    algorithms: list[Algorithm] | None = Field(default=None, min_length=1)

    @field_validator("selector")
    @classmethod
    def _selector(cls, value: str | None) -> str | None:
        problem = None if value is None else selector_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 253 or not DOMAIN.fullmatch(value)):
            raise ValueError(f"{value!r} is not a domain name, e.g. example.org")
        return value.lower() if value else value

    @field_validator("algorithms")
    @classmethod
    def _unique(cls, value: list[Algorithm] | None) -> list[Algorithm] | None:
        return list(dict.fromkeys(value)) if value else value

    @property
    def configured(self) -> bool:
        """Whether the table asks for signing (then a missing key is an error, not 'off')."""
        return self.enabled and bool(self.selector or self.domain or self.rsa_key_file
                                     or self.ed25519_key_file or self.algorithms)
