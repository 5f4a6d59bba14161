"""Rules on the rendered email: size, plaintext width, images without alt, links not https."""

from __future__ import annotations

from collections.abc import Iterable
from html.parser import HTMLParser
from pathlib import Path

from newsletter.diagnostics import Diagnostic
from newsletter.lint.body_rules import snippet
from newsletter.lint.links import link_problem

HTML_LIMIT = 90_000  # bytes; Gmail clips a message at ~102 KB and hides the rest
TEXT_WIDTH = 78  # RFC 5322's recommended line length


class _Tags(HTMLParser):
    """<a href> and <img> of the rendered email (markup inside comments is ignored)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.images: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.links.append(str(values["href"]))
        elif tag == "img":
            self.images.append(values)


class Locator:
    """Finds which source file and line a piece of rendered output came from."""

    def __init__(self, paths: Iterable[Path | None]) -> None:
        self.files = []
        for path in paths:
            if path is not None and path.is_file():
                self.files.append((path, path.read_text(encoding="utf-8").split("\n")))

    def find(self, *needles: str) -> tuple[Path, int] | None:
        for needle in filter(None, needles):
            for path, lines in self.files:
                for number, line in enumerate(lines, start=1):
                    if needle in line:
                        return path, number
        return None


def email_rules(html: str, text: str, html_bytes: int, where: Path, content: Locator,
                rest: Locator, skip_links: Iterable[str] = ()) -> list[Diagnostic]:
    """The rendered issue: size, plaintext width, images without alt, links not https.

    Problems that come from content files are reported by the Markdown rules already, so
    here only those from templates and settings are (`content` locates the former, `rest`
    the latter); `where` is the issue file, used when no source line is found.
    """
    found = []
    if html_bytes > HTML_LIMIT:
        found.append(Diagnostic("error", where, None,
                                f"the HTML email is {html_bytes:,} bytes, over {HTML_LIMIT:,}",
                                "Gmail clips long messages: shorten the papers or feature fewer",
                                "html-size"))
    for number, line in enumerate(text.split("\n"), start=1):
        if len(line) > TEXT_WIDTH:
            longest = max(line.split(), key=len, default="")
            path, source_line = content.find(line.strip(), longest) or \
                rest.find(line.strip(), longest) or (where, None)
            found.append(Diagnostic(
                "error", path, source_line,
                f"plaintext line {number} is {len(line)} columns, over {TEXT_WIDTH}: "
                f"'{snippet(line, 50)}'",
                "shorten the line in its source (a long URL: link a shorter address)",
                "text-width"))
    tags = _Tags()
    tags.feed(html)
    tags.close()
    skip = set(skip_links)
    for image in tags.images:
        src = str(image.get("src") or "")
        decorative = image.get("role") == "presentation" or image.get("aria-hidden") == "true"
        if not (image.get("alt") or "").strip() and not decorative \
                and not content.find(src, src.rsplit("/", 1)[-1]):
            image_path, image_line = rest.find(src) or (where, None)
            found.append(Diagnostic("error", image_path, image_line,
                                    f"image '{src}' has no alt text",
                                    "give it an alt attribute that says what it shows",
                                    "image-alt"))
    for url in [*tags.links, *(str(i.get("src") or "") for i in tags.images)]:
        problem = link_problem(url)
        if url in skip or problem is None or problem.code != "not-https" or content.find(url):
            continue
        link_path, link_line = rest.find(url) or (where, None)
        found.append(Diagnostic("error", link_path, link_line, problem.message, problem.hint,
                                problem.code))
    return found
