"""Malformed inputs: each gives exit code 2, one line naming file/line/field, nothing written."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from newsletter.cli import cli
from support.project import Project, issue_text, paper_text


def _compose(project: Project, date: str = "2025-11-28", *extra: str):
    before = project.files()
    result = CliRunner().invoke(cli, ["compose", "--date", date, *extra])
    return result, project.files() - before


def _valid_pool(project: Project) -> None:
    project.add_paper("mod", title="Mixture of Depths")
    project.add_paper("raft", title="Verified Raft", venue="OSDI 2025", track="systems",
                      presentation=None)


BROKEN_PAPERS = {
    "no front matter": ("## Key Finding\n\ntext\n", "mod.md:1: has no front matter"),
    "bad yaml": (paper_text(extra_front="tags: [unclosed\n"), "mod.md:16: front matter"),
    "missing title": (paper_text().replace('title: "A Paper"\n', ""),
                      "mod.md:1: paper: missing field 'title'"),
    "empty title": (paper_text(title="  "), "mod.md:2: paper: field 'title'"),
    "no authors": (paper_text().replace("  - Ada Lovelace\n  - Alan Turing\n", ""),
                   "mod.md:3: paper: field 'authors'"),
    "bad presentation": (paper_text(presentation="Keynote"),
                         "mod.md:9: paper: field 'presentation'"),
    "impossible published date": (paper_text(published="2025-02-30"),
                                  "mod.md:10: paper: field 'published'"),
    "unparseable published date": (paper_text(published="last week"),
                                   "mod.md:10: paper: field 'published'"),
    "link not a url": (paper_text(links={"arXiv": "arxiv 2411.12345"}),
                       "mod.md:12: paper: field 'links'"),
    "unknown field": (paper_text(extra_front="colour: blue\n"),
                      "mod.md:15: paper: unknown field 'colour'"),
    "multi-line takeaway": (paper_text(takeaway="one\\ntwo"),
                            "mod.md:14: paper: field 'takeaway'"),
    "missing key finding": (paper_text(body="## Why It Matters\n\nBecause.\n"),
                            "mod.md: paper has no '## Key Finding' section"),
    "text before first section": (paper_text(body="Stray text.\n\n## Key Finding\n\nx\n"
                                             "## Why It Matters\n\ny\n"),
                                  "mod.md:17: text before the first '## ' section"),
    "front matter is a list": ("---\n- a\n- b\n---\n\n## Key Finding\n",
                               "mod.md:2: front matter must be 'key: value' lines"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_PAPERS))
def test_broken_paper_is_one_clear_line(project: Project, case: str) -> None:
    text, expected = BROKEN_PAPERS[case]
    project.add_paper("raft", title="Verified Raft", venue="OSDI 2025", track="systems")
    project.add_paper("mod", text=text)
    project.add_issue("2025-11-28", ["mod", "raft"])
    result, written = _compose(project)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert expected in lines[0]
    assert "Traceback" not in result.output
    assert written == set()


def test_not_utf8(project: Project) -> None:
    _valid_pool(project)
    project.add_paper("mod", text="---\ntitle: caf\xe9\n---\n")
    (project.root / "seeds/papers/mod.md").write_bytes(b"---\ntitle: caf\xe9\n---\n")
    result, written = _compose(project)
    assert result.exit_code == 2
    assert "mod.md: is not UTF-8 text" in result.output and written == set()


@pytest.mark.parametrize("date", ["2025-02-30", "2025-13-01", "28/11/2025", "tomorrow"])
def test_impossible_date(project: Project, date: str) -> None:
    _valid_pool(project)
    result, written = _compose(project, date)
    assert result.exit_code == 2
    assert result.output.strip() == (f"error: '{date}' is not a valid date (use a real calendar "
                                     "date as YYYY-MM-DD, e.g. 2025-11-28)")
    assert written == set()


def test_issue_with_unknown_slug(project: Project) -> None:
    _valid_pool(project)
    project.add_issue("2025-11-28", ["mod", "ghost"])
    result, written = _compose(project)
    assert result.exit_code == 2
    assert "2025-11-28.md:4: issue names an unknown paper 'ghost'" in result.output
    assert written == set()


def test_issue_file_name_must_match_date(project: Project) -> None:
    _valid_pool(project)
    (project.root / "seeds/issues/2025-11-28.md").write_text(issue_text("2025-11-21", ["mod"]))
    result, written = _compose(project)
    assert result.exit_code == 2
    assert "2025-11-28.md:2: file name does not match its date 2025-11-21" in result.output


def test_issue_lists_a_paper_twice(project: Project) -> None:
    _valid_pool(project)
    project.add_issue("2025-11-28", ["mod", "mod"])
    result, _ = _compose(project)
    assert result.exit_code == 2
    assert "field 'papers': paper 'mod' is listed twice" in result.output


def test_issue_with_bad_status(project: Project) -> None:
    _valid_pool(project)
    project.add_issue("2025-11-28", ["mod"], status="published")
    result, _ = _compose(project)
    assert result.exit_code == 2 and "2025-11-28.md:3: issue: field 'status'" in result.output


def test_no_eligible_paper(project: Project) -> None:
    project.add_paper("old", title="Old", published="2020-01-01")
    result, written = _compose(project, "2025-11-28")
    assert result.exit_code == 2
    assert result.output.strip().startswith("error: no eligible paper for 2025-11-28 (")
    assert written == set()


def test_broken_config(project: Project) -> None:
    _valid_pool(project)
    (project.root / "newsletter.toml").write_text('base_url = "ftp://x"\n[selection]\n'
                                                  "max_papers = 0\n")
    result, written = _compose(project)
    assert result.exit_code == 2
    line = result.output.strip()
    assert line.startswith("error: newsletter.toml: ") and "'base_url'" in line
    assert "'selection.max_papers'" in line and written == set()


def test_broken_template(project: Project) -> None:
    _valid_pool(project)
    project.add_issue("2025-11-28", ["mod", "raft"])
    (project.root / "templates/issue.txt.j2").write_text("line one\n{% for x in %}\n")
    result, written = _compose(project)
    assert result.exit_code == 2
    assert "templates/issue.txt.j2:2: template error" in result.output and written == set()


def test_debug_shows_traceback(project: Project) -> None:
    _valid_pool(project)
    result = CliRunner().invoke(cli, ["--debug", "compose", "--date", "2025-02-30"])
    assert result.exit_code != 0 and result.exception is not None
