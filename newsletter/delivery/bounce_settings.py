"""[bounces] in newsletter.toml: how returned mail and complaints are read and acted on.

Its own small module (like [dkim] and [sources]) so that reading the configuration never
imports the bounce parser and its libraries.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

IMAP_PASSWORD_ENV = "NEWSLETTER_IMAP_PASSWORD"


def imap_url_problem(url: str) -> str | None:
    """What is wrong with an imaps:// or imap:// URL (never quoting it: it may hold secrets)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        bad_port = parts.port == 0
    except ValueError:
        return "has an invalid host or port, e.g. imaps://user@imap.example.org:993/INBOX"
    if bad_port or parts.scheme not in ("imap", "imaps") or not parts.hostname:
        return "must look like imaps://user@host:993/FOLDER or imap://user@host:143/FOLDER"
    if not parts.username:
        return "needs the user to log in as: imaps://USER@host/FOLDER"
    if parts.password is not None:
        return f"must not hold a password: set {IMAP_PASSWORD_ENV} instead"
    return None


class BounceSettings(BaseModel):
    """[bounces]: soft-bounce limit, complaint threshold, where returned mail is read."""

    model_config = ConfigDict(extra="forbid")

    # Soft bounces (mailbox full, a policy refusal) of this many issues in a row, with no
    # issue delivered between, mark the reader bounced.
    soft_limit: int = Field(3, ge=1, le=100)
    # `send` refuses a new issue while the last one's complaint rate is at or above this
    # (0.3%: Gmail's and Yahoo's bulk sender limit; they ask to stay under 0.1%).
    complaint_threshold: float = Field(0.003, gt=0, le=1)
    imap_url: str | None = None  # imaps://user@host/INBOX; the password from the environment
    imap_ca_file: Path | None = None  # an extra CA, e.g. a private server's own certificate
    processed_folder: str = Field("processed", min_length=1, max_length=200)

    @field_validator("imap_url")
    @classmethod
    def _imap_url(cls, value: str | None) -> str | None:
        problem = None if value is None else imap_url_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("processed_folder")
    @classmethod
    def _folder(cls, value: str) -> str:
        if any(ord(char) < 32 or char in '/\\"' for char in value) or value.startswith("."):
            raise ValueError("must be a plain folder name, e.g. processed")
        return value
