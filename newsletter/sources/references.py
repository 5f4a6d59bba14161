"""What the editor types after `newsletter add`: an arXiv identifier or a DOI, bare or as a URL."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from newsletter.content.identity import (
    ARXIV_DOI_PREFIX,
    ARXIV_PATH,
    DOI,
    arxiv_id_problem,
    without_version,
)
from newsletter.errors import UsageError

_ARXIV_URL = re.compile(r"^https?://(?:[\w-]+\.)*arxiv\.org(/[^?#\s]*)", re.I)
_DOI_URL = re.compile(r"^https?://(?:dx\.|www\.)?doi\.org/(\S+)$", re.I)
_EXAMPLES = "arxiv:2404.02258, https://arxiv.org/abs/2404.02258, doi:10.1145/3600006.3613165 " \
    "or https://doi.org/10.1145/3600006.3613165"


@dataclass(frozen=True)
class Reference:
    """A paper to look up: `kind` 'arxiv' (identifier without version) or 'doi' (lowercase)."""

    kind: Literal["arxiv", "doi"]
    value: str

    def __str__(self) -> str:
        return f"{'arXiv' if self.kind == 'arxiv' else 'doi'}:{self.value}"


def parse_reference(text: str) -> Reference:
    """arxiv:ID, an arxiv.org URL, doi:10.x/y, a doi.org URL, or a bare ID or DOI."""
    text = text.strip()
    if url := _ARXIV_URL.match(text):
        path = ARXIV_PATH.match(url[1])
        if not path:
            raise UsageError(f"'{text}' is not a link to an arXiv paper",
                             hint="use https://arxiv.org/abs/<id>, e.g. "
                             "https://arxiv.org/abs/2404.02258")
        return _arxiv(path[1], text)
    if url := _DOI_URL.match(text):
        return _doi(url[1], text)
    scheme, colon, rest = text.partition(":")
    if colon and scheme.casefold() == "arxiv":
        return _arxiv(rest.strip(), text)
    if colon and scheme.casefold() == "doi":
        return _doi(rest.strip(), text)
    if text.startswith("10."):
        return _doi(text, text)
    if re.fullmatch(r"\d{4}\.\d+(?:v\d+)?", text):
        return _arxiv(text, text)
    raise UsageError(f"'{text}' is neither an arXiv identifier nor a DOI",
                     hint=f"give one like {_EXAMPLES}")


def _arxiv(identifier: str, text: str) -> Reference:
    if why := arxiv_id_problem(identifier):
        raise UsageError(f"'{text}' is not a valid arXiv identifier: {why}",
                         hint="copy it from the paper's arXiv page, e.g. 2404.02258")
    return Reference("arxiv", without_version(identifier))


def _doi(doi: str, text: str) -> Reference:
    doi = re.sub(r"%2[Ff]", "/", doi).lower()
    if not DOI.match(doi):
        raise UsageError(f"'{text}' is not a valid DOI",
                         hint="a DOI is 10.<registrant>/<suffix>, e.g. 10.1145/3600006.3613165")
    if doi.startswith(ARXIV_DOI_PREFIX):  # arXiv's own DOI: ask arXiv, it has the category
        return _arxiv(doi.removeprefix(ARXIV_DOI_PREFIX), text)
    return Reference("doi", doi)
