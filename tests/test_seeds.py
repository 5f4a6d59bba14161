"""Acceptance: composing each seed date gives that seed's papers in order with every fact."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

from newsletter.cli import cli
from support.project import REPO

SEED_DATES = {
    "000_7c6f718433cdac7d.txt": "2025-11-28",
    "001_a9aec06f9e16d86e.txt": "2025-11-06",
    "002_6b8ae10c09d6a215.txt": "2025-10-19",
    "003_4f63bc87777602a5.txt": "2025-11-04",
    "004_35e33cfeec2895de.txt": "2025-11-16",
}
META = re.compile(r"^(Authors|Venue|Published|Date|arXiv|Link|Paper Link|Title):\s*(.*)$")
PAPER = re.compile(r"^(?:Paper \d+:|\d+\.)\s+(.*)$")


def _words(text: str) -> str:
    """Lowercase words only: compares content across wrapping, markup and bullets."""
    return " ".join(re.findall(r"[\w’'%.+-]+", text.lower().replace("**", "")))


@pytest.fixture(scope="module")
def composed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("repo")
    for name in ("seeds", "templates"):
        shutil.copytree(REPO / name, root / name)
    shutil.copy(REPO / "newsletter.toml", root)
    for date in SEED_DATES.values():
        result = CliRunner().invoke(cli, ["--config", str(root / "newsletter.toml"),
                                          "compose", "--date", date])
        assert result.exit_code == 0, result.output
    return root / "outbox"


@pytest.mark.parametrize("seed", sorted(SEED_DATES))
def test_seed_composes_with_every_fact(seed: str, composed: Path, legacy_seeds: Path) -> None:
    legacy = (legacy_seeds / seed).read_text(encoding="utf-8").splitlines()
    folder = composed / SEED_DATES[seed]
    text = (folder / "issue.txt").read_text()
    soup = BeautifulSoup((folder / "issue.html").read_text(), "html.parser")
    html_text = soup.get_text(" ")
    summary = json.loads((folder / "issue.json").read_text())

    # Papers, in the seed's order: the title, or the "Title:" line where the seed has one.
    titles = []
    for index, line in enumerate(legacy):
        if match := PAPER.match(line.strip()):
            following = legacy[index + 1 : index + 4]
            title_line = next((m[2] for m in map(META.match, following) if m and m[1] == "Title"),
                              match[1])
            titles.append(title_line.strip("“”\" "))
    assert [paper["title"] for paper in summary["papers"]] == titles
    headings = [h.get_text(strip=True) for h in soup.find_all("h2")]
    assert headings[: len(titles)] == titles

    subject = next(line for line in legacy if line.strip())
    assert summary["subject"] == subject
    hrefs = {a["href"] for a in soup.find_all("a", href=True)}
    for line in legacy:
        line = line.strip()
        if re.sub(r"\W", "", line) == re.sub(r"\W", "", subject):
            continue  # the title, repeated: it is the subject line
        if match := META.match(line):
            key, value = match.groups()
            urls = re.findall(r"https?://\S+", value)
            for url in urls:
                assert url in hrefs and url in text, url
            if key in ("Authors", "Venue"):
                for word in re.findall(r"[A-Za-z][\w.-]*", value):
                    if word not in ("and", "Presentation"):
                        assert word in html_text and word in text, (key, word)
            if key in ("Published", "Date"):
                assert value in html_text and value in text
        elif line and not PAPER.match(line):
            # Every other line (paragraphs, bullets, labels, figures) is in both parts.
            content = _words(line.removeprefix("- ").rstrip(":"))
            heading = len(line.split()) <= 6 and not line.endswith(".")
            if not heading or content.startswith("for "):
                assert content in _words(text), line
                assert content in _words(html_text), line


def test_figures_survive(composed: Path) -> None:
    text = (composed / "2025-11-04" / "issue.txt").read_text()
    for figure in ["99.2%", "10x", "500K", "3.2s", "11.4s", "1.8ms", "94K ops/sec", "2,400"]:
        assert figure in text
