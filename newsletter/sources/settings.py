"""Where the paper sources are and how politely to ask them: `[sources]` in newsletter.toml.

The arXiv API's terms ask for one request at a time, at least 3 seconds apart, from all of a
user's machines together; a shorter `arxiv_interval` is accepted only for a server on this
machine (the tests' recorded responses).

Pure pydantic on purpose (and errors.py): config.py can hold this model without importing
anything else of sources/.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from newsletter.errors import ConfigError, field_problem

ARXIV_API_URL = "https://export.arxiv.org/api/query"
CROSSREF_URL = "https://api.crossref.org/works"
ARXIV_INTERVAL = 3.0  # seconds between two arXiv requests: the API's terms of use
_LOOPBACK = re.compile(r"^https?://(?:127(?:\.\d{1,3}){3}|localhost|\[::1\])(?::\d+)?(?:/|$)")


def is_loopback(url: str) -> bool:
    """Whether `url` is on this machine (127.0.0.0/8, localhost, [::1])."""
    return _LOOPBACK.match(url) is not None


class SourcesSettings(BaseModel):
    """[sources]: the base URLs of the arXiv API and Crossref, timeouts and pacing."""

    model_config = ConfigDict(extra="forbid")

    arxiv_api_url: str = ARXIV_API_URL
    crossref_url: str = CROSSREF_URL
    timeout: float = Field(30.0, gt=0, le=600)  # seconds for an answer, per request
    arxiv_interval: float = Field(ARXIV_INTERVAL, ge=0, le=3600)
    arxiv_batch: int = Field(100, ge=1, le=500)  # identifiers per request of `check --online`

    @field_validator("arxiv_api_url", "crossref_url")
    @classmethod
    def _https(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith("https://") and not is_loopback(value):
            raise ValueError("must start with https:// (http only for a server on 127.0.0.1)")
        return value

    @field_validator("arxiv_interval")
    @classmethod
    def _polite(cls, value: float, info: ValidationInfo) -> float:
        # arxiv_api_url is declared first, so it is validated (and in info.data) by now.
        if value < ARXIV_INTERVAL and not is_loopback(info.data.get("arxiv_api_url", "")):
            raise ValueError(f"must be at least {ARXIV_INTERVAL:g} seconds: arXiv's terms of "
                             "use ask for one request every 3 seconds")
        return value


def flat_tracks(value: Any) -> Any:
    """[arxiv_tracks] as category -> track, whether the keys were quoted or not.

    TOML reads `cs.LG = "ml"` as a table `cs` holding `LG`; `"cs.LG" = "ml"` is the flat form.
    Both mean category cs.LG; `cs = "ml"` is the whole archive. For Config's field, as
    `Annotated[dict[str, str], BeforeValidator(flat_tracks)]`.
    """
    if not isinstance(value, dict):
        return value
    flat: dict[str, Any] = {}
    for key, track in value.items():
        if isinstance(track, dict):
            flat.update({f"{key}.{inner}": item for inner, item in flat_tracks(track).items()})
        else:
            flat[str(key)] = track
    return flat


def sources_settings(config: object) -> SourcesSettings:
    """config.sources (the model, or the [sources] table as a dict), or the defaults while
    Config has no such field. A bad table is a ConfigError naming newsletter.toml."""
    found = getattr(config, "sources", None)
    if isinstance(found, SourcesSettings):
        return found
    if not isinstance(found, dict):
        return SourcesSettings()
    try:
        return SourcesSettings.model_validate(found)
    except ValidationError as exc:
        problems = "; ".join("'sources.{}': {}".format(*field_problem(err))
                             for err in exc.errors())
        raise ConfigError(problems, path=getattr(config, "config_path", None),
                          hint="fix these settings in newsletter.toml") from exc


def arxiv_tracks(config: object) -> dict[str, str]:
    """config.arxiv_tracks (arXiv category -> track, e.g. cs.LG -> ml), or none."""
    found = flat_tracks(getattr(config, "arxiv_tracks", None))
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}
