"""Rules on Markdown bodies: required and empty sections, lead-ins without lists, inline links."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cached_property

from markdown_it.token import Token

from newsletter.compose.selection import UNWRITTEN
from newsletter.content.documents import Document
from newsletter.diagnostics import Diagnostic
from newsletter.lint.links import link_problem
from newsletter.render.figures import is_local_figure
from newsletter.render.markdown import MD as _MD  # parsed as the email renders it

_LIST_FOLLOWERS = {"bullet_list_open", "ordered_list_open", "fence", "code_block", "math_block",
                   "blockquote_open", "table_open"}


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
    empty_required: set[int] = set()
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
                if not is_local_figure(src) and (problem := link_problem(src)):
                    found.append(body.error(problem.code, token, problem.message, problem.hint,
                                            needle=src))
    return found


def unwritten_rules(body: Body, doc: Document) -> list[Diagnostic]:
    """The TODO lines `newsletter add` leaves for the editor: an unwritten paper is not sent."""
    hint = "write it in place of the TODO line: a paper is not composed or sent until then"
    found = []
    heading = ""
    for index, token in enumerate(body.tokens):
        if token.type == "heading_open" and token.tag == "h2":
            heading = body.tokens[index + 1].content.strip()
        elif token.type == "inline" and any(line.strip().startswith(UNWRITTEN)
                                            for line in token.content.split("\n")):
            where = f"section '## {heading}'" if heading else "the text"
            found.append(body.error("unwritten-section", token,
                                    f"{where} is not written yet", hint, needle=UNWRITTEN))
    takeaway = doc.meta.get("takeaway")
    if isinstance(takeaway, str) and takeaway.strip().startswith(UNWRITTEN):
        found.append(Diagnostic("error", doc.path, doc.line_of("takeaway"),
                                "the takeaway is not written yet", hint, "unwritten-section"))
    return found


def markdown_rules(doc: Document, required: Iterable[str] = ()) -> list[Diagnostic]:
    """Every body rule for one paper or issue file."""
    body = Body(doc)
    return (heading_rules(body, required) + lead_in_rules(body) + inline_rules(body)
            + unwritten_rules(body, doc))
