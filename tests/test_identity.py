"""A paper's identity (content/identity.py): one definition for `check` and the composer."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from newsletter.compose.selection import select_papers
from newsletter.config import load_config
from newsletter.content.identity import IdentityIndex, identity, link_arxiv_id, link_doi, same_paper
from newsletter.content.readers import load_content
from newsletter.errors import ComposeError
from newsletter.lint.runner import run_check
from support.project import REPO, paper_text


@pytest.mark.parametrize("url, expected", [
    ("https://arxiv.org/abs/2404.02258", "2404.02258"),
    ("https://arxiv.org/abs/2404.02258v3", "2404.02258"),
    ("http://export.arxiv.org/abs/2404.02258", "2404.02258"),
    ("https://arxiv.org/pdf/2404.02258.pdf", "2404.02258"),
    ("https://arxiv.org/pdf/2404.02258v1", "2404.02258"),
    ("https://arxiv.org/html/2404.02258v2/", "2404.02258"),
    ("https://arxiv.org/abs/hep-th/9901001v2", "hep-th/9901001"),
    ("https://arxiv.org/abs/2404.02258?context=cs", "2404.02258"),
    ("https://doi.org/10.48550/arXiv.2404.02258", "2404.02258"),
    ("https://arxiv.org/abs/2510.xxxxx", None),
    ("https://arxiv.org/abs/2025.12345", None),  # month 25
    ("https://arxiv.org/list/cs.LG/recent", None),
    ("https://notarxiv.org/abs/2404.02258", None),
    ("https://example.org/arxiv.org/abs/2404.02258", None),
])
def test_arxiv_identifiers_of_links(url: str, expected: str | None) -> None:
    assert link_arxiv_id(url) == expected


@pytest.mark.parametrize("url, expected", [
    ("https://doi.org/10.1145/3600006.3613165", "10.1145/3600006.3613165"),
    ("https://dx.doi.org/10.1145/3600006.3613165", "10.1145/3600006.3613165"),
    ("http://doi.org/10.1038/NATURE14539", "10.1038/nature14539"),
    ("https://doi.org/10.1145%2F3600006.3613165", "10.1145/3600006.3613165"),
    ("https://doi.org/about", None),
    ("https://dl.acm.org/doi/10.1145/3600006.3613165", None),
])
def test_dois_of_links(url: str, expected: str | None) -> None:
    assert link_doi(url) == expected


def test_what_makes_two_papers_the_same() -> None:
    mod = identity("Mixture-of-Depths: Dynamic Compute Allocation", "NeurIPS 2025",
                   ["https://arxiv.org/abs/2411.12345"])
    assert same_paper(mod, identity("mixture of depths: dynamic compute allocation!",
                                    "ICML 2024", [])) == "the same title"
    assert same_paper(mod, identity("Mixture of Depths - Conditional Computation",
                                    "NeurIPS 2025", [])) == \
        "the same name 'Mixture-of-Depths' at NeurIPS 2025"
    assert same_paper(mod, identity("Mixture of Depths: Elsewhere", "ICML 2025", [])) is None
    assert same_paper(mod, identity("Renamed", "ICML 2025",
                                    ["https://arxiv.org/pdf/2411.12345v2"])) == \
        "the same arXiv identifier 2411.12345"
    vllm = identity("PagedAttention", "SOSP 2023", ["https://doi.org/10.1145/3600006.3613165"])
    assert same_paper(vllm, identity("vLLM", "arXiv",
                                     ["https://dx.doi.org/10.1145/3600006.3613165"])) == \
        "the same DOI 10.1145/3600006.3613165"
    # The arXiv DOI of a paper and its arXiv link name the same paper.
    assert same_paper(identity("A", "X", ["https://doi.org/10.48550/arXiv.2404.02258"]),
                      identity("B", "Y", ["https://arxiv.org/abs/2404.02258"])) == \
        "the same arXiv identifier 2404.02258"


def test_the_index_answers_with_the_first_copy() -> None:
    index: IdentityIndex[str] = IdentityIndex()
    index.add(identity("One", "V", ["https://arxiv.org/abs/2404.02258"]), "first")
    index.add(identity("Two", "V", []), "second")
    match = index.find(identity("Two", "W", ["https://arxiv.org/abs/2404.02258v2"]))
    assert match == ("first", "the same arXiv identifier 2404.02258")
    assert index.find(identity("Three", "V", [])) is None


@pytest.fixture
def bundled(tmp_path: Path) -> Path:
    for name in ("seeds", "templates"):
        shutil.copytree(REPO / name, tmp_path / name)
    shutil.copy(REPO / "newsletter.toml", tmp_path)
    return tmp_path


def test_check_and_the_composer_agree_on_the_bundled_seeds(bundled: Path) -> None:
    """The copy `check` reports is the copy the composer refuses, naming the same paper."""
    (bundled / "seeds/papers/mod-again.md").write_text(paper_text(
        title="Mixture of Depths: Revisited", published="2025-12-01",
        links={"arXiv": "https://arxiv.org/abs/2404.02258"}))
    config = load_config(bundled / "newsletter.toml")
    duplicates = {f.path.stem: f.message for f in run_check(config).findings
                  if f.code == "duplicate-paper"}
    assert duplicates.keys() == {"mixture-of-depths-2", "mod-again"}
    assert duplicates["mod-again"].startswith("same paper as mixture-of-depths.md (")
    content = load_content(bundled / "seeds")
    with pytest.raises(ComposeError):  # every other paper was featured already
        select_papers(content.papers, content.issues, dt.date(2025, 12, 5), config.selection,
                      config.tracks)
    (bundled / "seeds/papers/fresh.md").write_text(paper_text(
        title="Fresh", published="2025-12-02", links={"arXiv": "https://arxiv.org/abs/2412.00001"}))
    content = load_content(bundled / "seeds")
    result = select_papers(content.papers, content.issues, dt.date(2025, 12, 5),
                           config.selection, config.tracks)
    assert [paper.slug for paper in result.papers] == ["fresh"]
    reasons = {r.slug: r.reason for r in result.rejections}
    assert reasons["mod-again"] == "same paper as mixture-of-depths, featured on 2025-11-06"


def test_the_compose_path_loads_no_network_code(bundled: Path) -> None:
    """Identity is patterns only: compose imports neither urllib.request nor feedparser."""
    script = (
        "import sys\n"
        "from newsletter.cli import cli\n"
        "try:\n"
        "    cli(['--config', sys.argv[1], 'compose', '--date', '2025-12-05', '--dry-run'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "import json\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('urllib.request', "
        "'feedparser', 'http.client', 'newsletter.sources.arxiv', 'newsletter.sources.http', "
        "'newsletter.sources.crossref')))))\n")
    done = subprocess.run([sys.executable, "-c", script, str(bundled / "newsletter.toml")],
                          capture_output=True, text=True, check=True, cwd=bundled)
    assert json.loads(done.stdout.splitlines()[-1]) == []
