"""One typed configuration object, read from newsletter.toml (found from the cwd upward)."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from newsletter.errors import ConfigError, field_problem

CONFIG_NAME = "newsletter.toml"


class Selection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_papers: int = Field(2, ge=1, le=20)
    window_days: int = Field(120, ge=1)


class Delivery(BaseModel):
    """[delivery]: subscribers database, transport and the pace of a send."""

    model_config = ConfigDict(extra="forbid")

    transport: Literal["outbox", "smtp"] = "outbox"
    smtp_url: str | None = None  # smtp://user@host:port or smtps://...; never a password
    smtp_ca_file: Path | None = None  # extra CA bundle, e.g. a test server's own certificate
    smtp_timeout: float = Field(60.0, gt=0)
    database: Path = Path("newsletter.sqlite3")
    secret_file: Path | None = None  # default: .newsletter-secret beside the database
    connections: int = Field(4, ge=1, le=64)
    rate_limit: float = Field(0.0, ge=0)  # messages per second over all connections; 0 = off
    batch_size: int = Field(50, ge=1, le=10_000)
    max_attempts: int = Field(5, ge=1)
    retry_base: float = Field(1.0, ge=0)  # seconds before the first retry; doubles each time
    retry_cap: float = Field(60.0, ge=0)
    list_id: str | None = None  # default: <title-slug>.<sender domain>
    unsubscribe_url: str | None = None  # default: <base_url>/unsubscribe
    unsubscribe_mailto: str | None = None  # default: from_address
    log_every: int = Field(1000, ge=1)  # progress lines when stderr is not a terminal

    @field_validator("smtp_url")
    @classmethod
    def _no_password(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value.startswith(("smtp://", "smtps://")):
            raise ValueError("must start with smtp:// or smtps://")
        userinfo = value.split("://", 1)[1].split("/", 1)[0].rpartition("@")[0]
        if ":" in userinfo:
            raise ValueError("must not hold a password: set NEWSLETTER_SMTP_PASSWORD instead")
        return value


class Config(BaseModel):
    """Settings with defaults that let a fresh checkout run without editing anything."""

    model_config = ConfigDict(extra="forbid")

    root: Path = Field(default_factory=Path.cwd, exclude=True)
    config_path: Path | None = Field(default=None, exclude=True)
    title: str = "Research Update"
    tagline: str = "New papers that matter to engineers, once a week."
    language: str = "en"
    from_name: str = "Research Update"
    from_address: str = "newsletter@example.org"
    reply_to: str | None = None
    base_url: str = "https://example.org/newsletter"
    tracks: list[str] = Field(default_factory=lambda: ["ml", "systems"])
    venue_tracks: dict[str, str] = Field(default_factory=dict)
    selection: Selection = Field(default_factory=Selection)
    delivery: Delivery = Field(default_factory=Delivery)
    content_dir: Path = Path("seeds")
    templates_dir: Path = Path("templates")
    outbox_dir: Path = Path("outbox")

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
        return self.resolve(self.delivery.database)

    @property
    def secret_path(self) -> Path:
        """The unsubscribe-token key file: delivery.secret_file, else beside the database."""
        key_file = self.delivery.secret_file
        return self.resolve(key_file) if key_file else \
            self.database_path.with_name(".newsletter-secret")


def find_config(start: Path | None = None) -> Path | None:
    """newsletter.toml in `start` or the nearest parent folder, like git finds .git."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def load_config(path: Path | None = None, **overrides: Any) -> Config:
    """Load settings; every problem in the file is reported in one message."""
    path = path or find_config()
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"invalid TOML: {exc}", path=path) from exc
        except OSError as exc:
            raise ConfigError(f"cannot be read: {exc.strerror}", path=path) from exc
    data.update({key: value for key, value in overrides.items() if value is not None})
    root = path.parent if path is not None else Path.cwd()
    try:
        return Config(root=root, config_path=path, **data)
    except ValidationError as exc:
        problems = "; ".join("'{}': {}".format(*field_problem(err)) for err in exc.errors())
        raise ConfigError(problems, path=path or CONFIG_NAME,
                          hint="fix these settings in newsletter.toml") from exc
