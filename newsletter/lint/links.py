"""Links a reader will click: placeholders, malformed URLs, plain http, arXiv identifiers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from newsletter.content.identity import ARXIV_PATH, arxiv_id_problem

LINK_CODES = frozenset({"placeholder-link", "malformed-link", "not-https"})
PLACEHOLDER = re.compile(r"x{3,}|\b(?:todo|tbd|fixme|placeholder)\b|\.\.\.|…|[<>{}]", re.I)
_RESERVED_HOST = re.compile(r"(?:^|\.)example(?:\.com|\.org|\.net)?$|\.(?:invalid|test)$", re.I)


@dataclass(frozen=True)
class LinkProblem:
    code: str
    message: str
    hint: str


def link_problem(url: str, *, arxiv: bool = False) -> LinkProblem | None:
    """What is wrong with a link a reader will click, or None. `arxiv`: it is named 'arXiv'."""
    url = url.strip()
    if not url:
        return LinkProblem("malformed-link", "link is empty", "put the full https:// address")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError:
        return LinkProblem("malformed-link", f"link '{url}' is not a valid URL",
                           "check the address for typos")
    if PLACEHOLDER.search(url):
        if arxiv or (parts.hostname or "").endswith("arxiv.org"):
            return LinkProblem("placeholder-link", f"arXiv link '{url}' has a placeholder "
                               "identifier", "put the paper's arXiv identifier (YYMM.NNNNN, "
                               "e.g. 2411.12345), or remove the link")
        return LinkProblem("placeholder-link", f"link '{url}' is a placeholder",
                           "put the real address, or remove the link")
    scheme = parts.scheme.lower()
    if scheme == "mailto":
        return None
    if not scheme or not parts.netloc:
        return LinkProblem("malformed-link", f"link '{url}' is not an absolute URL",
                           "emails need full addresses: start it with https://")
    if scheme != "https":
        return LinkProblem("not-https", f"link '{url}' is not https",
                           "use its https:// address; mail clients flag plain http")
    host = (parts.hostname or "").lower()
    if "." not in host or any(char.isspace() for char in url):
        return LinkProblem("malformed-link", f"link '{url}' is not a valid URL",
                           "check the address for typos and spaces")
    if _RESERVED_HOST.search(host):
        return LinkProblem("placeholder-link", f"link '{url}' points to a reserved example host",
                           "put the real address, or remove the link")
    return _arxiv_problem(url, parts.path, host, arxiv)


def _arxiv_problem(url: str, path: str, host: str, arxiv: bool) -> LinkProblem | None:
    """A link named 'arXiv' must be on arxiv.org; an arXiv paper link needs a valid identifier."""
    is_arxiv_host = host == "arxiv.org" or host.endswith(".arxiv.org")
    if arxiv and not is_arxiv_host:
        return LinkProblem("malformed-link", f"the arXiv link '{url}' is not on arxiv.org",
                           "use https://arxiv.org/abs/<id>, or rename the link")
    path_match = ARXIV_PATH.match(path)
    if is_arxiv_host and (arxiv or path.startswith(("/abs/", "/pdf/", "/html/"))):
        why = arxiv_id_problem(path_match[1]) if path_match else "it has no /abs/<id> path"
        if why:
            return LinkProblem("malformed-link",
                               f"arXiv link '{url}' has no valid identifier: {why}",
                               "use the paper's identifier, e.g. https://arxiv.org/abs/2411.12345")
    return None
