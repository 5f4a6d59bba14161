"""Golden files: issues as rendered, so any change to the email shows as a diff (Pelican's
golden-output tests).

- tests/golden/2025-11-28/: the bundled 2025-11-28 issue (the repository's seeds);
- tests/golden/research/: tests/fixtures/research/, a paper with a table, inline and display
  math, footnotes, a code block and a local figure, and one with a table too wide for text
  and a formula text cannot show.

After an intended change to templates, rendering or the seeds, regenerate them with:

    NEWSLETTER_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py

and review `git diff tests/golden/`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from newsletter.commands.compose import compose_issue
from newsletter.config import load_config
from newsletter.content.models import parse_issue_date
from support.project import REPO

GOLDEN = Path(__file__).parent / "golden"
FIXTURES = Path(__file__).parent / "fixtures"
UPDATE = os.environ.get("NEWSLETTER_UPDATE_GOLDEN") == "1"
# golden folder -> (project folder, issue date)
ISSUES = {"2025-11-28": (REPO, "2025-11-28"), "research": (FIXTURES / "research", "2025-12-05")}


def normalised_html(html: bytes) -> str:
    """One tag per line, attributes in a stable order: a diff shows what changed."""
    return BeautifulSoup(html.decode("utf-8"), "html.parser").prettify()


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, bytes]]:
    """The outbox files of each golden issue, composed in a scratch copy of its project."""
    files = {}
    for name, (project, date) in ISSUES.items():
        root = tmp_path_factory.mktemp(name)
        shutil.copytree(project / "seeds", root / "seeds")
        shutil.copytree(REPO / "templates", root / "templates")
        shutil.copy(project / "newsletter.toml", root / "newsletter.toml")
        result = compose_issue(load_config(root / "newsletter.toml"), parse_issue_date(date))
        assert result.built is not None and not result.drafted
        files[name] = result.built.files
    return files


@pytest.mark.parametrize("issue", sorted(ISSUES))
@pytest.mark.parametrize("name,normalise", [
    ("issue.txt", lambda data: data.decode("utf-8")),
    ("issue.html", normalised_html),
])
def test_issue_matches_its_golden_file(rendered: dict[str, dict[str, bytes]], issue: str,
                                       name: str, normalise) -> None:
    golden = GOLDEN / issue / name
    actual = normalise(rendered[issue][name])
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(actual, encoding="utf-8")
    assert golden.is_file(), f"{golden} is missing: regenerate the golden files (see above)"
    assert actual == golden.read_text(encoding="utf-8"), (
        f"{name} differs from {golden}: if the change is intended, regenerate the golden "
        "files with NEWSLETTER_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py")
