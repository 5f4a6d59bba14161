"""Validated content models: papers, issues and their Markdown sections."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from newsletter.errors import UsageError

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
REQUIRED_PAPER_SECTIONS = ("Key Finding", "Why It Matters")
BOTTOM_LINE = "Bottom Line"


class Presentation(StrEnum):
    ORAL = "Oral"
    SPOTLIGHT = "Spotlight"
    POSTER = "Poster"

    @property
    def rank(self) -> int:
        """Higher is more prominent: Oral > Spotlight > Poster."""
        return {"Oral": 3, "Spotlight": 2, "Poster": 1}[self.value]


@dataclass(frozen=True)
class PartialDate:
    """A publication date with an optional day: the seeds have both "2025-11" and "2025-10-28"."""

    year: int
    month: int
    day: int | None = None

    @classmethod
    def parse(cls, value: Any) -> PartialDate:
        if isinstance(value, PartialDate):
            return value
        if isinstance(value, dt.datetime):
            value = value.date()
        if isinstance(value, dt.date):
            return cls(value.year, value.month, value.day)
        text = str(value).strip()
        match = re.fullmatch(r"(\d{4})-(\d{2})(?:-(\d{2}))?", text)
        if not match:
            raise ValueError(f"expected YYYY-MM-DD or YYYY-MM, got {text!r}")
        year, month = int(match[1]), int(match[2])
        day = int(match[3]) if match[3] else None
        try:
            dt.date(year, month, day or 1)
        except ValueError as exc:  # 2025-02-30 or month 13
            raise ValueError(f"{text!r} is not a real date: {exc}") from None
        return cls(year, month, day)

    @property
    def earliest(self) -> dt.date:
        """First day it could mean: a paper from "2025-11" is out by 2025-11-01."""
        return dt.date(self.year, self.month, self.day or 1)

    def iso(self) -> str:
        return f"{self.year:04d}-{self.month:02d}" + (f"-{self.day:02d}" if self.day else "")

    def human(self) -> str:
        """'November 2025' or 'October 28, 2025'."""
        month = dt.date(self.year, self.month, 1).strftime("%B")
        return f"{month} {self.day}, {self.year}" if self.day else f"{month} {self.year}"

    def __str__(self) -> str:
        return self.iso()


PartialDateField = Annotated[PartialDate, BeforeValidator(PartialDate.parse)]


def _calendar_date(value: Any) -> Any:
    """Text as a YYYY-MM-DD date, saying so when it is none (pydantic's message is vague)."""
    if not isinstance(value, str):
        return value
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{value.strip()!r} is not a real date: use YYYY-MM-DD, "
                         "e.g. 2025-11-28") from None


CalendarDate = Annotated[dt.date, BeforeValidator(_calendar_date)]


class Section(BaseModel):
    """One "## " section of a Markdown body; `markdown` is everything under the heading."""

    model_config = ConfigDict(frozen=True)

    title: str
    markdown: str = ""
    line: int = 0

    @property
    def is_empty(self) -> bool:
        return not self.markdown.strip()


class _Sectioned(BaseModel):
    # `lambda: []` rather than `list`: for a builtin, pydantic reads the text signature,
    # which compiles the tokenize module's patterns (about 2 ms of every start).
    sections: list[Section] = Field(default_factory=lambda: [])

    def section(self, title: str) -> Section | None:
        wanted = title.casefold()
        return next((s for s in self.sections if s.title.casefold() == wanted), None)


def _strip_str(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


CleanStr = Annotated[str, BeforeValidator(_strip_str), Field(min_length=1)]


class Paper(_Sectioned):
    """seeds/papers/<slug>.md: front matter + Markdown body split into sections."""

    model_config = ConfigDict(extra="forbid")

    slug: str
    title: CleanStr
    headline: str | None = None
    authors: list[CleanStr] = Field(min_length=1)
    affiliations: list[CleanStr] = Field(default_factory=lambda: [])
    venue: CleanStr
    presentation: Presentation | None = None
    published: PartialDateField
    track: CleanStr
    links: dict[str, str] = Field(default_factory=dict)
    takeaway: CleanStr
    tags: list[str] = Field(default_factory=lambda: [])
    imported_from: str | None = None

    @field_validator("slug")
    @classmethod
    def _slug_shape(cls, value: str) -> str:
        if not SLUG_RE.match(value):
            raise ValueError("use lowercase letters, digits and single hyphens")
        return value

    @field_validator("links")
    @classmethod
    def _links_are_urls(cls, links: dict[str, str]) -> dict[str, str]:
        for name, url in links.items():
            if not isinstance(url, str) or not re.match(r"^https?://[^\s/]+\.[^\s/]+\S*$", url):
                raise ValueError(f"link {name!r} is not an http(s) URL: {url!r}")
        return links

    @field_validator("takeaway")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\n" in value:
            raise ValueError("keep the takeaway on one line")
        return value


class Issue(_Sectioned):
    """seeds/issues/<YYYY-MM-DD>.md: which papers, in what order, and the closing sections."""

    model_config = ConfigDict(extra="forbid")

    date: CalendarDate
    subject: str | None = None
    papers: list[str] = Field(min_length=1)
    status: Literal["draft", "sent"] = "draft"
    papers_heading: str | None = None
    intro: str = ""
    imported_from: str | None = None

    @field_validator("papers")
    @classmethod
    def _unique_slugs(cls, slugs: list[str]) -> list[str]:
        seen = set()
        for slug in slugs:
            if slug in seen:
                raise ValueError(f"paper {slug!r} is listed twice")
            seen.add(slug)
        return slugs

    @property
    def bottom_line(self) -> Section | None:
        return self.section(BOTTOM_LINE)


def human_date(date: dt.date) -> str:
    """'November 28, 2025'."""
    return f"{date.strftime('%B')} {date.day}, {date.year}"


def default_subject(title: str, date: dt.date) -> str:
    """The subject of an issue that sets none: 'Research Update - November 28, 2025'."""
    return f"{title} - {human_date(date)}"


def parse_issue_date(text: str) -> dt.date:
    """YYYY-MM-DD, refusing impossible dates such as 2025-02-30."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"'{text}' is not a valid date",
                         hint="use a real calendar date as YYYY-MM-DD, e.g. 2025-11-28") from None
