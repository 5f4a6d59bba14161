"""One typed configuration object, read from newsletter.toml (found from the cwd upward)."""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from newsletter.delivery.bounce_settings import BounceSettings
from newsletter.errors import ConfigError, field_problem, read_text
from newsletter.mail.dkim_settings import DKIMSettings
from newsletter.sources.settings import SourcesSettings, flat_tracks
from newsletter.web.settings import WebSettings

CONFIG_NAME = "newsletter.toml"
MIN_RATE = 0.001  # messages per second; a far slower pace would overflow the wait between two
MAX_RATE = 100_000.0
# Dot-atom local part of common characters; domain labels of letters, digits and inner
# hyphens; an alphabetic top-level domain. Every address this accepts, email-validator
# accepts too (tests/test_subscribers.py checks that on generated addresses).
_PLAIN = re.compile(r"[a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*"
                    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_SPECIAL_TLDS = frozenset({"arpa", "invalid", "local", "localhost", "onion", "test"})


def plain_address(address: str) -> bool:
    """True for a common lowercase ASCII address that email-validator accepts unchanged.

    The fast path of every address check: email-validator costs about 45 µs an address (and
    40 ms to import), which alone would cap a CSV import at 22,000 rows/s.
    """
    return (_PLAIN.fullmatch(address) is not None and len(address) <= 254
            and address.index("@") <= 64 and address.rpartition(".")[2] not in _SPECIAL_TLDS
            and "--" not in address.partition("@")[2])  # IDNA reserves "ab--" labels


def sender_address(value: str) -> str:
    """A sender-side address (from_address, reply_to, unsubscribe_mailto) in its ASCII form.

    Checked like a subscriber's (email-validator, syntax only, no DNS), but the local part
    must be ASCII and an internationalised domain becomes its IDNA form (xn--...): headers
    and the SMTP envelope stay ASCII. ValueError says what is wrong.
    """
    address = value.strip()
    if plain_address(address):
        return address
    from email_validator import EmailNotValidError, validate_email

    try:
        checked = validate_email(address, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise ValueError(f"{value!r} is not a valid address: {str(exc).rstrip('.')}") from None
    return checked.ascii_email or checked.normalized


def smtp_url_problem(url: str) -> str | None:
    """What is wrong with an smtp:// or smtps:// URL (never quoting it: it may hold secrets)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # urlsplit refuses only an unbalanced IPv6 bracket
        return "is not a valid URL: an IPv6 address goes in brackets, e.g. smtp://[::1]:25"
    try:
        bad_port = parts.port == 0
    except ValueError:  # not a number, or out of range
        bad_port = True
    if bad_port:
        return "has an invalid port: use a number from 1 to 65535"
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        return "must look like smtp://user@host:port or smtps://user@host:port"
    if parts.password is not None:
        return "must not hold a password: set NEWSLETTER_SMTP_PASSWORD instead"
    return None


def rate_problem(rate: float) -> str | None:
    """What is wrong with a messages-per-second limit (0 is no limit)."""
    if rate == 0 or MIN_RATE <= rate <= MAX_RATE:
        return None
    return f"must be 0 (no limit) or from {MIN_RATE} to {MAX_RATE:,.0f} messages per second"


class Selection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_papers: int = Field(2, ge=1, le=20)
    window_days: int = Field(120, ge=1, le=36_500)  # a century; far more overflows date arithmetic


class Delivery(BaseModel):
    """[delivery]: subscribers database, transport and the pace of a send."""

    model_config = ConfigDict(extra="forbid")

    transport: Literal["outbox", "smtp"] = "outbox"
    smtp_url: str | None = None  # smtp://user@host:port or smtps://...; never a password
    smtp_ca_file: Path | None = None  # extra CA bundle, e.g. a test server's own certificate
    # Upper bounds keep every duration within what a timer or a socket accepts.
    smtp_timeout: float = Field(60.0, gt=0, le=3600)
    # A path or sqlite:///path (SQLite, from newsletter.toml's folder) or postgresql://...;
    # text, not a Path, which would fold the "//" of a URL. NEWSLETTER_DATABASE_URL wins.
    database: str = "newsletter.sqlite3"
    secret_file: Path | None = None  # default: beside a SQLite database, else newsletter.toml
    connections: int = Field(4, ge=1, le=64)
    rate_limit: float = 0.0  # messages per second over all connections; 0 = off
    batch_size: int = Field(50, ge=1, le=10_000)  # at most; a worker claims ~1 s of its work
    max_attempts: int = Field(5, ge=1, le=100)
    retry_base: float = Field(1.0, ge=0, le=3600)  # seconds before the first retry; doubles
    retry_cap: float = Field(60.0, ge=0, le=86_400)
    list_id: str | None = None  # default: <title-slug>.<sender domain>
    unsubscribe_url: str | None = None  # default: <base_url>/unsubscribe
    unsubscribe_mailto: str | None = None  # default: from_address
    # The return path: default bounces@<from domain>; VERP adds +<issue>.<token>.
    bounce_address: str | None = None
    lease_seconds: float = Field(30.0, ge=1, le=3600)  # a send process's lease (PostgreSQL)
    ehlo_name: str | None = None  # EHLO name; default: this machine's FQDN, else the From domain
    log_every: int = Field(1000, ge=1, le=10**9)  # progress lines when stderr is not a terminal
    log_seconds: float = Field(5.0, gt=0, le=3600)  # ... or this often, whichever comes first

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: str | None) -> str | None:
        problem = None if value is None else smtp_url_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("rate_limit")
    @classmethod
    def _rate(cls, value: float) -> float:
        problem = rate_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("unsubscribe_mailto", "bounce_address")
    @classmethod
    def _mailto(cls, value: str | None) -> str | None:
        return None if value is None else sender_address(value)


class Config(BaseModel):
    """Settings with defaults that let a fresh checkout run without editing anything."""

    model_config = ConfigDict(extra="forbid")

    root: Path = Field(default_factory=Path.cwd, exclude=True)
    config_path: Path | None = Field(default=None, exclude=True)
    title: str = "Research Update"
    tagline: str = "New papers that matter to engineers, once a week."
    language: str = "en"
    greeting_name: Literal["first", "full", "none"] = "first"  # "Hi Ada," by default
    from_name: str = "Research Update"
    from_address: str = "newsletter@example.org"
    reply_to: str | None = None
    base_url: str = "https://example.org/newsletter"
    tracks: list[str] = Field(default_factory=lambda: ["ml", "systems"])
    venue_tracks: dict[str, str] = Field(default_factory=dict)
    # `newsletter add`: arXiv category (or archive) -> track; `cs.LG = "ml"` quoted or not.
    arxiv_tracks: Annotated[dict[str, str], BeforeValidator(flat_tracks)] = Field(
        default_factory=dict)
    sources: SourcesSettings = Field(default_factory=SourcesSettings)  # arXiv, Crossref
    dkim: DKIMSettings = Field(default_factory=DKIMSettings)  # [dkim]: selector, keys
    bounces: BounceSettings = Field(default_factory=BounceSettings)  # [bounces]
    web: WebSettings = Field(default_factory=WebSettings)  # [web]: newsletter serve
    selection: Selection = Field(default_factory=Selection)
    delivery: Delivery = Field(default_factory=Delivery)
    content_dir: Path = Path("seeds")
    templates_dir: Path = Path("templates")
    outbox_dir: Path = Path("outbox")

    @field_validator("from_address", "reply_to")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        # A typo here would make every message fail (and look like a bounce): refuse it now.
        return None if value is None else sender_address(value)

    @field_validator("base_url")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must start with https://")
        return value.rstrip("/")

    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else self.root / path

    @property
    def papers_dir(self) -> Path:
        return self.resolve(self.content_dir) / "papers"

    @property
    def issues_dir(self) -> Path:
        return self.resolve(self.content_dir) / "issues"

    @property
    def archive_dir(self) -> Path:
        return self.resolve(self.content_dir) / "archive"

    @property
    def templates_path(self) -> Path:
        return self.resolve(self.templates_dir)

    @property
    def outbox_path(self) -> Path:
        return self.resolve(self.outbox_dir)

    def issue_path(self, date: dt.date) -> Path:
        """Where the issue file for `date` lives (or would be drafted)."""
        return self.issues_dir / f"{date.isoformat()}.md"

    def issue_outbox(self, date: dt.date) -> Path:
        """outbox/<date>/: what compose writes, and the outbox transport's sent/ and test/."""
        return self.outbox_path / date.isoformat()

    @property
    def database_path(self) -> Path:
        """The SQLite file of delivery.database (see newsletter.store.urls for the URL)."""
        return self.resolve(Path(self.delivery.database.removeprefix("sqlite:///")))

    @property
    def secret_path(self) -> Path:
        """The unsubscribe-token key file: delivery.secret_file, else beside the SQLite
        database, else (a database on a server) beside newsletter.toml."""
        key_file = self.delivery.secret_file
        if key_file:
            return self.resolve(key_file)
        if "://" in self.delivery.database and not self.delivery.database.startswith("sqlite:"):
            return self.root / ".newsletter-secret"
        return self.database_path.with_name(".newsletter-secret")


def find_config(start: Path | None = None) -> Path | None:
    """newsletter.toml in `start` or the nearest parent folder, like git finds .git."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


# Settings a CI job gives as environment variables (secrets and per-run choices); each wins
# over newsletter.toml. NEWSLETTER_DATABASE_URL, NEWSLETTER_SMTP_PASSWORD and NEWSLETTER_SECRET
# are read where they are used.
ENVIRONMENT = {"NEWSLETTER_SMTP_URL": "smtp_url", "NEWSLETTER_TRANSPORT": "transport",
               "NEWSLETTER_LEASE_SECONDS": "lease_seconds"}
CONFIG_ENV = "NEWSLETTER_CONFIG"


def _from_environment(data: dict[str, Any]) -> None:
    delivery = data.get("delivery")
    for variable, key in ENVIRONMENT.items():
        value = os.environ.get(variable)
        if value:
            if not isinstance(delivery, dict):
                delivery = data["delivery"] = {}
            delivery[key] = value


def load_config(path: Path | None = None, **overrides: Any) -> Config:
    """Load settings; every problem in the file is reported in one message.

    The file is `path`, else $NEWSLETTER_CONFIG, else newsletter.toml found from here upward.
    """
    path = path or (Path(os.environ[CONFIG_ENV]) if os.environ.get(CONFIG_ENV) else None) \
        or find_config()
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(read_text(path, ConfigError))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"invalid TOML: {exc}", path=path) from exc
    _from_environment(data)
    data.update({key: value for key, value in overrides.items() if value is not None})
    root = path.parent if path is not None else Path.cwd()
    try:
        return Config(root=root, config_path=path, **data)
    except ValidationError as exc:
        problems = "; ".join("'{}': {}".format(*field_problem(err)) for err in exc.errors())
        raise ConfigError(problems, path=path or CONFIG_NAME,
                          hint="fix these settings in newsletter.toml") from exc
