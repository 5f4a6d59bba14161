"""Rules of `newsletter check` on content files: links, Markdown bodies, front matter.

Each rule takes values and returns Diagnostics; `check.py` decides which files to look at
and checks the rendered email.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from .content import Document
from .diagnostics import Diagnostic

LINK_CODES = frozenset({"placeholder-link", "malformed-link", "not-https"})

# Parsed like prose.py renders: CommonMark, raw HTML is text.
_MD = MarkdownIt("commonmark", {"html": False})
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PLACEHOLDER = re.compile(r"x{3,}|\b(?:todo|tbd|fixme|placeholder)\b|\.\.\.|…|[<>{}]", re.I)
_RESERVED_HOST = re.compile(r"(?:^|\.)example(?:\.com|\.org|\.net)?$|\.(?:invalid|test)$", re.I)
_ARXIV_PATH = re.compile(r"^/(?:abs|pdf|html)/(.+?)(?:\.pdf)?/?$")
_ARXIV_NEW = re.compile(r"(\d\d)(\d\d)\.(\d+)(?:v\d+)?")
_ARXIV_OLD = re.compile(r"[a-z]+(?:-[a-z]+)?(?:\.[A-Za-z-]{2,})?/(\d\d)(\d\d)(\d{3})(?:v\d+)?")
_LIST_FOLLOWERS = {"bullet_list_open", "ordered_list_open", "fence", "code_block",
                   "blockquote_open", "table_open"}
_TITLE_SPLIT = re.compile(r":|\s[-–—]\s")


@dataclass(frozen=True)
class LinkProblem:
    code: str
    message: str
    hint: str


def arxiv_id_problem(identifier: str) -> str | None:
    """Why an arXiv identifier is invalid, or None: new-style YYMM.NNNNN, old-style a/YYMMNNN."""
    if match := _ARXIV_NEW.fullmatch(identifier):
        year, month, digits = int(match[1]), int(match[2]), len(match[3])
        if not 1 <= month <= 12:
            return f"month {match[2]} does not exist (new-style identifiers are YYMM.NNNNN)"
        if (year, month) < (7, 4):
            return "new-style identifiers start in April 2007 (0704)"
        expected = 4 if (year, month) < (15, 1) else 5
        if digits != expected:
            return f"identifiers from 20{match[1]}-{match[2]} have {expected} digits after the dot"
        return None
    if match := _ARXIV_OLD.fullmatch(identifier):
        month = int(match[2])
        return None if 1 <= month <= 12 else f"month {match[2]} does not exist"
    return "it is neither YYMM.NNNNN nor archive/YYMMNNN"


def link_problem(url: str, *, arxiv: bool = False) -> LinkProblem | None:
    """What is wrong with a link a reader will click, or None. `arxiv`: it is named 'arXiv'."""
    url = url.strip()
    if not url:
        return LinkProblem("malformed-link", "link is empty", "put the full https:// address")
    parts = urlsplit(url)
    if _PLACEHOLDER.search(url):
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
    is_arxiv_host = host == "arxiv.org" or host.endswith(".arxiv.org")
    if arxiv and not is_arxiv_host:
        return LinkProblem("malformed-link", f"the arXiv link '{url}' is not on arxiv.org",
                           "use https://arxiv.org/abs/<id>, or rename the link")
    path_match = _ARXIV_PATH.match(parts.path)
    if is_arxiv_host and (arxiv or parts.path.startswith(("/abs/", "/pdf/", "/html/"))):
        why = arxiv_id_problem(path_match[1]) if path_match else "it has no /abs/<id> path"
        if why:
            return LinkProblem("malformed-link",
                               f"arXiv link '{url}' has no valid identifier: {why}",
                               "use the paper's identifier, e.g. https://arxiv.org/abs/2411.12345")
    return None


def value_lines(doc: Document) -> dict[tuple[str, ...], int]:
    """File line of each front matter key and list item: ('links', 'arXiv') -> 13."""
    try:
        root = yaml.compose(doc.raw_meta, Loader=_LOADER)
    except yaml.YAMLError:
        return {}
    lines: dict[tuple[str, ...], int] = {}

    def walk(node: yaml.Node | None, path: tuple[str, ...]) -> None:
        # raw_meta starts with the newline after the opening '---', so YAML line + 1 = file line
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                lines[(*path, str(key.value))] = key.start_mark.line + 1
                walk(value, (*path, str(key.value)))
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                if isinstance(item, yaml.ScalarNode):
                    lines.setdefault((*path, str(item.value)), item.start_mark.line + 1)

    walk(root, ())
    return lines


def _next_block(tokens: list[Token], index: int) -> Token | None:
    """The next token after `index` that opens or is a block, skipping closing tokens."""
    return next((t for t in tokens[index + 1 :] if t.nesting != -1), None)


def _heading_level(token: Token) -> int:
    return int(token.tag[1])


def snippet(text: str, width: int = 70) -> str:
    """The end of `text`, cut at a word: '…with state space models (SSMs) that achieves:'."""
    words = text.split()
    kept: list[str] = []
    while words and len(" ".join([words[-1], *kept])) <= width - 1:
        kept.insert(0, words.pop())
    return ("…" if words else "") + " ".join(kept or [text.strip()[-width:]])


def _last_sentence(text: str) -> str:
    return re.split(r"(?<=[.!?])\s+(?=[A-Z“\"])", " ".join(text.split()))[-1]


class Body:
    """A Markdown body parsed once, with file line numbers for its tokens."""

    def __init__(self, doc: Document) -> None:
        self.path = doc.path
        self.first = doc.body_line
        self.lines = doc.body.split("\n")
        self.tokens = _MD.parse(doc.body)

    def line(self, token: Token, *, last: bool = False, needle: str | None = None) -> int | None:
        if not token.map:
            return None
        start, end = token.map
        if needle:
            for offset in range(start, min(end, len(self.lines))):
                if needle in self.lines[offset]:
                    return self.first + offset
        return self.first + (end - 1 if last else start)

    def error(self, code: str, token: Token, message: str, hint: str, **where) -> Diagnostic:
        return Diagnostic("error", self.path, self.line(token, **where), message, hint, code)

    @cached_property
    def h2(self) -> list[tuple[int, str]]:
        """(token index, title) of each '## ' heading."""
        return [(i, self.tokens[i + 1].content.strip()) for i, t in enumerate(self.tokens)
                if t.type == "heading_open" and t.tag == "h2"]


def heading_rules(body: Body, required: Iterable[str] = ()) -> list[Diagnostic]:
    """Required '## ' sections missing or empty; any heading with nothing under it."""
    found: list[Diagnostic] = []
    tokens = body.tokens
    titles = {title.casefold(): (index, title) for index, title in reversed(body.h2)}
    empty_required = set()
    for wanted in required:
        if wanted.casefold() not in titles:  # no line: there is no place it could point to
            found.append(Diagnostic("error", body.path, None,
                                    f"required section '## {wanted}' is missing",
                                    f"add a '## {wanted}' heading with its text",
                                    "required-section"))
            continue
        index, title = titles[wanted.casefold()]
        end = next((i for i, _ in body.h2 if i > index), len(tokens))
        inside = [t for t in tokens[index + 3 : end] if t.type != "inline"
                  and not t.type.startswith("heading_")]
        if not inside:
            empty_required.update(range(index, end))
            found.append(body.error("required-section", tokens[index],
                                    f"required section '## {title}' is empty",
                                    "write it: readers expect it in every paper"))
    for index, token in enumerate(tokens):
        if token.type != "heading_open" or index in empty_required:
            continue
        follower = _next_block(tokens, index + 2)
        if follower is None or (follower.type == "heading_open"
                                and _heading_level(follower) <= _heading_level(token)):
            title = tokens[index + 1].content.strip()
            found.append(body.error("empty-section", token,
                                    f"section '{token.markup} {title}' is empty",
                                    "write it or remove the heading: readers see a bare heading"))
    return found


def lead_in_rules(body: Body) -> list[Diagnostic]:
    """A paragraph ending with ':' announces a list; the legacy import lost several."""
    found = []
    in_list = 0
    for index, token in enumerate(body.tokens):
        if token.type in ("bullet_list_open", "ordered_list_open"):
            in_list += 1
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            in_list -= 1
        elif token.type == "paragraph_open" and not in_list:
            text = body.tokens[index + 1].content.rstrip().rstrip("*_").rstrip()
            follower = _next_block(body.tokens, index + 2)
            if text.endswith(":") and (follower is None or follower.type not in _LIST_FOLLOWERS):
                found.append(body.error(
                    "lead-in-without-list", token,
                    f"'{snippet(_last_sentence(text))}' introduces a list, but no list follows",
                    "add the items as '- ' lines after it (if the next paragraphs are the "
                    "items, put '- ' before each), or end the sentence with a period",
                    last=True))
    return found


def inline_rules(body: Body) -> list[Diagnostic]:
    """Links and images in the Markdown text: placeholders, malformed, not https, no alt."""
    found = []
    for token in body.tokens:
        for child in token.children or []:
            if child.type == "link_open":
                url = str(child.attrs.get("href", ""))
                if problem := link_problem(url):
                    found.append(body.error(problem.code, token, problem.message, problem.hint,
                                            needle=url))
            elif child.type == "image":
                src = str(child.attrs.get("src", ""))
                if not child.content.strip():
                    found.append(body.error("image-alt", token, f"image '{src}' has no alt text",
                                            "describe it in the brackets: ![what it shows](url)",
                                            needle=src))
                if problem := link_problem(src):
                    found.append(body.error(problem.code, token, problem.message, problem.hint,
                                            needle=src))
    return found


def markdown_rules(doc: Document, required: Iterable[str] = ()) -> list[Diagnostic]:
    """Every body rule for one paper or issue file."""
    body = Body(doc)
    return heading_rules(body, required) + lead_in_rules(body) + inline_rules(body)


def front_matter_rules(doc: Document, tracks: Iterable[str] | None = None,
                       known_papers: set[str] | None = None) -> list[Diagnostic]:
    """Links and track of a paper (`tracks`), or the paper list of an issue (`known_papers`)."""
    found = []
    lines = value_lines(doc)
    links = doc.meta.get("links")
    for name, url in (links.items() if isinstance(links, dict) else ()):
        arxiv = str(name).casefold() == "arxiv"
        if isinstance(url, str) and (problem := link_problem(url, arxiv=arxiv)):
            found.append(Diagnostic("error", doc.path, lines.get(("links", str(name))),
                                    problem.message, problem.hint, problem.code))
    track = doc.meta.get("track")
    if tracks is not None and isinstance(track, str) and track.strip() not in tracks:
        allowed = ", ".join(tracks)
        found.append(Diagnostic("error", doc.path, lines.get(("track",)),
                                f"unknown track '{track}'",
                                f"use one of: {allowed} (or add it to 'tracks' in newsletter.toml)",
                                "unknown-track"))
    papers = doc.meta.get("papers")
    if known_papers is not None and isinstance(papers, list):
        for slug in papers:
            if isinstance(slug, str) and slug not in known_papers:
                found.append(Diagnostic("error", doc.path, lines.get(("papers", slug)),
                                        f"issue names a missing paper '{slug}'",
                                        f"add papers/{slug}.md or fix the slug", "missing-paper"))
    return found


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[^\w]+", " ", text.casefold()).split())


@dataclass(frozen=True)
class PaperEntry:
    """What duplicate detection needs to know about one paper file."""

    slug: str
    path: Path
    title: str
    venue: str
    links: tuple[str, ...]
    title_line: int | None
    featured: str | None  # ISO date of the first issue featuring it

    @property
    def short_name(self) -> str:
        """'Mixture of Depths - Conditional ...' and 'Mixture-of-Depths: Dynamic ...' agree."""
        return _normal(_TITLE_SPLIT.split(self.title, maxsplit=1)[0])

    @property
    def arxiv_ids(self) -> set[str]:
        ids = set()
        for url in self.links:
            parts = urlsplit(url)
            match = _ARXIV_PATH.match(parts.path)
            if match and parts.hostname and parts.hostname.endswith("arxiv.org") and \
                    arxiv_id_problem(match[1]) is None and not _PLACEHOLDER.search(url):
                ids.add(re.sub(r"v\d+$", "", match[1]))
        return ids


def _same_paper(a: PaperEntry, b: PaperEntry) -> str | None:
    if _normal(a.title) == _normal(b.title):
        return "the same title"
    if a.short_name and a.short_name == b.short_name and _normal(a.venue) == _normal(b.venue):
        return f"the same name '{_TITLE_SPLIT.split(a.title, maxsplit=1)[0].strip()}' at {a.venue}"
    if shared := a.arxiv_ids & b.arxiv_ids:
        return f"the same arXiv identifier {min(shared)}"
    return None


def duplicate_rules(entries: list[PaperEntry]) -> list[Diagnostic]:
    """The same paper in two files; reported at the one featured later (or never)."""
    order = sorted(entries, key=lambda e: (e.featured is None, e.featured or "", e.slug))
    found = []
    for position, later in enumerate(order):
        for earlier in order[:position]:
            if why := _same_paper(earlier, later):
                when = f", featured on {earlier.featured}" if earlier.featured else ""
                drop = f"the {later.featured} issue" if later.featured else "the pool"
                found.append(Diagnostic(
                    "error", later.path, later.title_line,
                    f"same paper as {earlier.path.name} ('{earlier.title}'{when}): {why}",
                    f"feature a paper once: remove it from {drop}, or merge the two files",
                    "duplicate-paper"))
                break
    return found
