"""[web]: the settings of `newsletter serve` (and of `newsletter.web:app` under any server)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class WebSettings(BaseModel):
    """Where the web app listens, whom it trusts, and its limits."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"  # another address only behind a reverse proxy, or on purpose
    port: int = Field(8080, ge=0, le=65535)
    # Proxies whose X-Forwarded-For / -Proto are believed (uvicorn's forwarded_allow_ips):
    # addresses or networks; "*" trusts every client, which is only right behind a proxy
    # that every request must pass.
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1"])
    confirm_days: float = Field(7, gt=0, le=365)  # how long a confirmation link works
    max_body: int = Field(16_384, ge=1024, le=1_048_576)  # bytes of a request body
    # Subscription requests (each may send a mail) per `rate_window` seconds.
    client_limit: int = Field(10, ge=1, le=100_000)  # per client address
    address_limit: int = Field(3, ge=1, le=1000)  # per email address
    rate_window: float = Field(3600, gt=0, le=86_400 * 7)
    rate_keys: int = Field(100_000, ge=100, le=10_000_000)  # addresses remembered at most


def web_settings(config: Any) -> WebSettings:
    """`config.web`, or the defaults while the Config has no [web] table."""
    settings = getattr(config, "web", None)
    return settings if isinstance(settings, WebSettings) else WebSettings()
