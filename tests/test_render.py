"""Rendering: HTML parsed, plaintext read as text, .eml parsed back with `email`."""

from __future__ import annotations

import email
import json
import re
from email import policy

import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.content import files
from newsletter.errors import OutputError
from support.project import Project, paper_text

BODY = """\
## Key Finding

Tokens <b>skip</b> layers & save **40%** of FLOPs. See [the code](https://github.com/x/y).

- 2.5x faster inference
- 40% reduction in training FLOPs

## Results

A very long sentence about results that certainly needs to be wrapped because
it is longer than seventy-two columns.

## Why It Matters

Cost matters.

### For Staff Engineers

- **Inference cost:** lower

### For Researchers

- **New axis:** compute

## Practical Applications

- Cheaper serving
"""


def _compose(project: Project, date: str = "2025-11-28") -> None:
    result = CliRunner().invoke(cli, ["compose", "--date", date])
    assert result.exit_code == 0, result.output


@pytest.fixture
def issue(project: Project) -> Project:
    project.add_paper("mod", text=paper_text(title="Mixture <of> Depths & Co", body=BODY,
                                             published="2025-11"))
    project.add_paper("raft", title="Verified Raft", venue="OSDI 2025", track="systems",
                      presentation=None, links={"Paper": "https://www.usenix.org/raft"})
    project.add_issue("2025-11-28", ["mod", "raft"],
                      body="## Bottom Line\n\n- Both papers matter.\n\n## Additional Reading\n\n"
                           "### Related Work\n\nSee [Verdi](https://verdi.uwplse.org).\n")
    _compose(project)
    return project


def _soup(project: Project) -> BeautifulSoup:
    return BeautifulSoup((project.root / "outbox/2025-11-28/issue.html").read_text(),
                         "html.parser")


def test_html_structure(issue: Project) -> None:
    soup = _soup(issue)
    assert soup.html["lang"] == "en"
    assert soup.find("meta", attrs={"name": "viewport"})
    assert soup.title.get_text() == "Research Update - November 28, 2025"
    h1 = soup.find_all("h1")
    assert [h.get_text(strip=True) for h in h1] == ["November 28, 2025"]
    h2 = [h.get_text(strip=True) for h in soup.find_all("h2")]
    assert h2 == ["Mixture <of> Depths & Co", "Verified Raft", "Bottom Line",
                  "Additional Reading"]
    h3 = [h.get_text(strip=True) for h in soup.find_all("h3")]
    assert h3[:4] == ["Key Finding", "Results", "Why It Matters", "Practical Applications"]
    assert "Related Work" in h3  # issue sections keep their own levels
    h4 = [h.get_text(strip=True) for h in soup.find_all("h4")]
    assert h4 == ["For Staff Engineers", "For Researchers", "For Staff Engineers"]
    items = [li.get_text(" ", strip=True) for li in soup.find_all("li")]
    assert "2.5x faster inference" in items and "Inference cost: lower" in items
    links = {a.get_text(strip=True): a["href"] for a in soup.find_all("a")}
    # Each button's text names its paper for screen readers (visually hidden: .nl-sr).
    assert links["Read on arXiv: Mixture <of> Depths & Co"] == "https://arxiv.org/abs/2411.12345"
    assert links["Read the paper: Verified Raft"] == "https://www.usenix.org/raft"
    assert links["the code"] == "https://github.com/x/y"
    assert links["Unsubscribe"] == "https://news.example.org/unsubscribe"
    text = soup.get_text(" ", strip=True)
    for fact in ["Ada Lovelace, Alan Turing", "Analytical Engines Ltd",
                 "NeurIPS 2025 · Oral · November 2025", "OSDI 2025 · November 1, 2025",
                 "Both papers matter.", "Hi there,"]:
        assert fact in text


def test_html_escapes_content(issue: Project) -> None:
    raw = (issue.root / "outbox/2025-11-28/issue.html").read_text()
    assert "<b>skip</b>" not in raw and "&lt;b&gt;skip&lt;/b&gt;" in raw
    assert "Mixture &lt;of&gt; Depths &amp; Co" in raw
    soup = _soup(issue)
    assert not soup.find("b") and not soup.find("of")


def test_css_is_inlined_and_media_queries_kept(issue: Project) -> None:
    soup = _soup(issue)
    styles = [s.get_text() for s in soup.find_all("style")]
    assert styles and all("@media" in s for s in styles)
    assert any("prefers-color-scheme: dark" in s for s in styles)
    assert any("max-width: 480px" in s for s in styles)
    paragraph = soup.find("p", class_="nl-meta")
    assert "color: #4b5563" in paragraph["style"]
    assert soup.find("meta", attrs={"name": "color-scheme"})["content"] == "light dark"


def test_html_is_small_and_has_a_preheader(issue: Project) -> None:
    data = (issue.root / "outbox/2025-11-28/issue.html").read_bytes()
    assert len(data) < 40_000  # Gmail clips at 102 KB
    soup = _soup(issue)
    hidden = soup.find("div", style=re.compile("display:none"))
    assert hidden.get_text().startswith("2 papers this week: Mixture <of> Depths & Co")


def test_plaintext_reads_like_a_person_wrote_it(issue: Project) -> None:
    text = (issue.root / "outbox/2025-11-28/issue.txt").read_text()
    lines = text.splitlines()
    assert all(len(line) <= 72 for line in lines), max(lines, key=len)
    assert "<" not in text.replace("Mixture <of> Depths", "").replace("<b>skip</b>", "")
    assert lines[:2] == ["Research Update - November 28, 2025", "=" * 35]
    index = lines.index("1. Mixture <of> Depths & Co")
    assert lines[index + 1] == "=" * len(lines[index])
    assert "Key Finding" in lines and lines[lines.index("Key Finding") + 1] == "-" * 11
    assert "For Staff Engineers" in lines
    assert "- 2.5x faster inference" in lines
    assert "- Inference cost: lower" in lines
    assert "A very long sentence about results that certainly needs to be wrapped" in text
    refs = {line.split(" ", 1)[1]: line.split(" ", 1)[0] for line in lines
            if re.match(r"^\[\d+\] https://", line)}
    assert set(refs) == {"https://arxiv.org/abs/2411.12345", "https://github.com/x/y",
                         "https://www.usenix.org/raft", "https://verdi.uwplse.org"}
    assert f"See the code {refs['https://github.com/x/y']}." in " ".join(text.split())
    assert "https://news.example.org/unsubscribe" in lines


def test_eml_parses_back(issue: Project) -> None:
    folder = issue.root / "outbox/2025-11-28"
    message = email.message_from_bytes((folder / "issue.eml").read_bytes(),
                                       policy=policy.default)
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == "Research Update - November 28, 2025"
    assert message["From"] == "Research Update <news@example.org>"
    assert message["MIME-Version"] == "1.0"
    assert message["Date"] and message["Message-ID"].endswith("@example.org>")
    plain, html = list(message.iter_parts())
    assert plain.get_content_type() == "text/plain" and html.get_content_type() == "text/html"
    assert plain.get_content_charset() == html.get_content_charset() == "utf-8"
    # On the wire lines end in CRLF; the files beside it use the platform's LF.
    def lf(text: str) -> str:
        return text.replace("\r\n", "\n").rstrip("\n")

    assert lf(plain.get_content()) == lf((folder / "issue.txt").read_text())
    assert lf(html.get_content()) == lf((folder / "issue.html").read_text())
    summary = json.loads((folder / "issue.json").read_text())
    assert [(p["slug"], p["title"]) for p in summary["papers"]] == [
        ("mod", "Mixture <of> Depths & Co"), ("raft", "Verified Raft")]
    assert summary["papers"][0]["citation"]["key"] == "lovelace2025mixture"
    assert summary["figures"] == []
    assert summary["bytes"]["eml"] == (folder / "issue.eml").stat().st_size


def _without_volatile_headers(data: bytes) -> bytes:
    return re.sub(rb"^(Date|Message-ID): .*\r\n", b"", data, flags=re.M)


def test_same_input_same_bytes(issue: Project) -> None:
    folder = issue.root / "outbox/2025-11-28"
    first = {p.name: p.read_bytes() for p in folder.iterdir()}
    _compose(issue)
    second = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert first.keys() == second.keys()
    for name in first:
        if name == "issue.eml":
            assert first[name] != second[name]  # a new Message-ID each time
            assert _without_volatile_headers(first[name]) == \
                _without_volatile_headers(second[name])
        else:
            assert first[name] == second[name], name


def test_failed_compose_leaves_previous_files(issue: Project) -> None:
    folder = issue.root / "outbox/2025-11-28"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    (issue.root / "seeds/papers/raft.md").write_text("---\ntitle: [\n---\n")
    result = CliRunner().invoke(cli, ["compose", "--date", "2025-11-28"])
    assert result.exit_code == 2
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_interrupted_write_keeps_old_files_and_leaves_no_half_folder(
        issue: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = issue.root / "outbox/2025-11-28"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    real_write = files._write_file
    calls = []

    def failing_write(path, data, sync):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real_write(path, data, sync)

    monkeypatch.setattr(files, "_write_file", failing_write)
    with pytest.raises(OutputError, match="No space left on device"):
        files.write_folder_atomic(folder, {k: b"new" for k in before})
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    calls.clear()
    fresh = issue.root / "outbox/2025-12-05"
    with pytest.raises(OutputError, match="No space left on device"):
        files.write_folder_atomic(fresh, {k: b"new" for k in before})
    assert not fresh.exists()
    assert [p.name for p in fresh.parent.iterdir() if p.name.startswith(".")] == []


# Every template mistake is one line naming the template file and, where Jinja knows it, the
# line; the snippet goes on line 2 of the plaintext template (line 3 of the MJML one).
TEMPLATE_MISTAKES = {
    "division by zero": ("{{ 1/0 }}", "issue.txt.j2:2: template error: ZeroDivisionError: "
                                      "division by zero"),
    "missing include": ('{% include "nope.j2" %}',
                        "issue.txt.j2:2: template nope.j2 not found (create it or fix the name "
                        "in the include, extends or import)"),
    "extends itself": ('{% extends "issue.txt.j2" %}',
                       "issue.txt.j2:2: template error: it includes or extends itself, "
                       "endlessly (remove that include or extends, or end the chain)"),
    "includes itself": ('{% include "issue.txt.j2" %}',
                        "issue.txt.j2:2: template error: it includes or extends itself, "
                        "endlessly (remove that include or extends, or end the chain)"),
    "if syntax": ("{% if %}", "issue.txt.j2:2: template error: Expected an expression, got "
                              "'end of statement block'"),
    "undefined name": ("{{ no_such_name.title }}",
                       "issue.txt.j2:2: template error: 'no_such_name' is undefined"),
    "wrong value for our filter": ("{{ issue.date | wrap }}",
                                   "issue.txt.j2:2: template error: the wrap filter takes text, "
                                   "not date datetime.date(2025, 11, 28)"),
    "wrong level for our filter": ('{{ "x" | underline(9) }}',
                                   "issue.txt.j2:2: template error: the underline filter takes "
                                   "a number from 1 to 6, not 9"),
    "error in an included template": ('{% include "part.j2" %}',
                                      "part.j2:2: template error: ZeroDivisionError: division "
                                      "by zero"),
    "missing include in an included template": ('{% include "missing.j2" %}',
                                                "missing.j2:2: template nope.j2 not found"),
    "included template not UTF-8": ('{% include "latin1.j2" %}',
                                    "latin1.j2: is not UTF-8 text (save it as UTF-8)"),
    "in the MJML template": ('{% include "nope.j2" %}', "issue.mjml.j2:3: template nope.j2 not "
                                                        "found"),
}


@pytest.mark.parametrize("case", sorted(TEMPLATE_MISTAKES))
def test_a_template_mistake_is_one_line_with_file_and_line(project: Project, case: str) -> None:
    snippet, expected = TEMPLATE_MISTAKES[case]
    project.add_paper("mod", title="Mixture of Depths")
    project.add_issue("2025-11-28", ["mod"])
    templates = project.root / "templates"
    (templates / "part.j2").write_text("fine\n{{ 1/0 }}\n")
    (templates / "missing.j2").write_text("fine\n{% include 'nope.j2' %}\n")
    (templates / "latin1.j2").write_bytes("café\n".encode("latin-1"))
    name, after = ("issue.mjml.j2", 2) if "MJML" in case else ("issue.txt.j2", 1)
    lines = (templates / name).read_text().splitlines(keepends=True)
    lines.insert(after, snippet + "\n")
    (templates / name).write_text("".join(lines))
    result = CliRunner().invoke(cli, ["compose", "--date", "2025-11-28"])
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [result.stderr.strip()], result.stderr
    assert result.stderr.startswith(f"error: templates/{expected}"), result.stderr
    assert not (project.root / "outbox").exists()


def test_a_missing_template_is_one_line(project: Project) -> None:
    project.add_paper("mod", title="Mixture of Depths")
    project.add_issue("2025-11-28", ["mod"])
    (project.root / "templates" / "issue.txt.j2").unlink()
    result = CliRunner().invoke(cli, ["compose", "--date", "2025-11-28"])
    assert result.exit_code == 2
    assert result.stderr == ("error: templates/issue.txt.j2: template not found (create it, or "
                             "set templates_dir in newsletter.toml)\n")


@pytest.mark.parametrize("failure", ["raises", "recurses"])
def test_a_bug_in_our_filter_code_keeps_its_traceback(
        project: Project, monkeypatch: pytest.MonkeyPatch, failure: str) -> None:
    """Only the template's own mistakes become one line: a bug in our code stays a bug."""
    from newsletter.render.prose import Prose

    def broken(self, markdown: str, heading_shift: int = 0, paper=None) -> str:
        if failure == "recurses":
            return broken(self, markdown, heading_shift, paper)
        return str(1 // 0)

    project.add_paper("mod", title="Mixture of Depths")
    project.add_issue("2025-11-28", ["mod"])
    monkeypatch.setattr(Prose, "text", broken)
    result = CliRunner().invoke(cli, ["compose", "--date", "2025-11-28"])
    expected = RecursionError if failure == "recurses" else ZeroDivisionError
    assert isinstance(result.exception, expected), result.output
    assert result.exit_code == 1
