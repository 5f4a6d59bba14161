"""Selection for new dates: eligibility, tracks, ranking, drafts and --dry-run."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.compose.selection import select_papers
from newsletter.config import Selection
from newsletter.content.documents import read_document
from newsletter.content.readers import load_content, parse_issue
from newsletter.errors import ContentError
from support.project import Project


def _pool(project: Project) -> None:
    project.add_paper("old-oral", title="Old Oral", published="2025-11-01", presentation="Oral")
    project.add_paper("new-poster", title="New Poster", published="2025-12-01",
                      presentation="Poster")
    project.add_paper("new-spotlight", title="New Spotlight", published="2025-12-02",
                      presentation="Spotlight")
    project.add_paper("no-presentation", title="Plain", published="2025-12-03", presentation=None)
    project.add_paper("sys-poster", title="Systems Poster", published="2025-11-20",
                      presentation="Poster", track="systems", venue="OSDI 2025")
    project.add_paper("future", title="Future", published="2026-01-10")
    project.add_paper("ancient", title="Ancient", published="2024-01-01")
    project.add_issue("2025-11-28", ["old-oral"])


def test_one_per_track_then_rank(project: Project) -> None:
    _pool(project)
    content = load_content(project.root / "seeds")
    result = select_papers(content.papers, content.issues, dt.date(2025, 12, 10),
                           Selection(max_papers=3, window_days=60), ["ml", "systems"])
    # ml's best is the Spotlight; systems gets its only paper even though it is a Poster;
    # then the best remaining by presentation.
    assert [p.slug for p in result.papers] == ["new-spotlight", "sys-poster", "new-poster"]
    reasons = {r.slug: r.reason for r in result.rejections}
    assert reasons["old-oral"] == "already featured on 2025-11-28"
    assert reasons["future"].startswith("published 2026-01-10, after 2025-12-10")
    assert "before the 60-day window" in reasons["ancient"]
    assert reasons["no-presentation"] == "issue is full (3 papers)"


def test_ties_break_by_newest_then_title(project: Project) -> None:
    project.add_paper("b", title="Beta", published="2025-12-01")
    project.add_paper("a", title="Alpha", published="2025-12-01")
    project.add_paper("c", title="Gamma", published="2025-12-05")
    content = load_content(project.root / "seeds")
    result = select_papers(content.papers, {}, dt.date(2025, 12, 10),
                           Selection(max_papers=3, window_days=60), [])
    assert [p.slug for p in result.papers] == ["c", "a", "b"]


def test_a_paper_featured_later_is_still_eligible_earlier(project: Project) -> None:
    _pool(project)
    content = load_content(project.root / "seeds")
    result = select_papers(content.papers, content.issues, dt.date(2025, 11, 20),
                           Selection(max_papers=1, window_days=60), ["ml"])
    assert [p.slug for p in result.papers] == ["old-oral"]


def test_month_only_dates_count_from_the_first(project: Project) -> None:
    project.add_paper("month", title="Month", published="2025-12")
    content = load_content(project.root / "seeds")
    picked = select_papers(content.papers, {}, dt.date(2025, 12, 1), Selection(), ["ml"])
    assert [p.slug for p in picked.papers] == ["month"]


def test_compose_new_date_writes_draft_and_outbox(project: Project) -> None:
    _pool(project)
    result = CliRunner().invoke(cli, ["compose", "--date", "2025-12-10"])
    assert result.exit_code == 0, result.output
    assert "pick    new-spotlight  (ml, best of track 'ml')" in result.output
    assert "pick    sys-poster  (systems, best of track 'systems')" in result.output
    draft_path = project.root / "seeds/issues/2025-12-10.md"
    issue = parse_issue(read_document(draft_path))
    assert issue.status == "draft" and issue.papers == ["new-spotlight", "sys-poster"]
    bottom = issue.bottom_line
    assert bottom is not None and "**New Spotlight**: It works." in bottom.markdown
    folder = project.root / "outbox/2025-12-10"
    assert sorted(p.name for p in folder.iterdir()) == [
        "issue.eml", "issue.html", "issue.json", "issue.txt"]
    # The draft is now an issue: composing again renders it as it is, without re-selecting.
    again = CliRunner().invoke(cli, ["compose", "--date", "2025-12-10"])
    assert again.exit_code == 0 and "pick" not in again.output


def test_dry_run_explains_and_writes_nothing(project: Project) -> None:
    _pool(project)
    before = project.files()
    result = CliRunner().invoke(cli, ["compose", "--date", "2025-12-10", "--dry-run"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "reject  old-oral  (already featured on 2025-11-28)" in lines
    assert "reject  future  (published 2026-01-10, after 2025-12-10)" in lines
    assert any(line.startswith("pick    new-spotlight") for line in lines)
    assert lines[-1].startswith("dry run: would draft") and lines[-1].endswith("nothing written")
    assert project.files() == before


def test_papers_command_lists_the_pool(project: Project) -> None:
    _pool(project)
    result = CliRunner().invoke(cli, ["papers"])
    assert result.exit_code == 0
    rows = [line.split() for line in result.output.splitlines()]
    assert rows[0] == ["SLUG", "TRACK", "PUBLISHED", "FEATURED"]
    table = {row[0]: row[1:] for row in rows[1:]}
    assert table["old-oral"] == ["ml", "2025-11-01", "2025-11-28"]
    assert table["sys-poster"] == ["systems", "2025-11-20", "-"]
    assert len(table) == 7


def test_new_date_on_the_bundled_seeds(tmp_path, monkeypatch) -> None:
    """The real pool: every seed paper was featured, so only the new ones can be picked."""
    import shutil

    from support.project import REPO, paper_text

    for name in ("seeds", "templates"):
        shutil.copytree(REPO / name, tmp_path / name)
    shutil.copy(REPO / "newsletter.toml", tmp_path)
    papers = tmp_path / "seeds" / "papers"
    (papers / "sparse-kv.md").write_text(paper_text(title="Sparse KV Caches",
                                                    presentation="Poster", published="2025-12-01"))
    (papers / "raft-fuzz.md").write_text(paper_text(title="Fuzzing Raft", venue="OSDI 2025",
                                                    presentation=None, track="systems",
                                                    published="2025-11-30"))
    (papers / "late.md").write_text(paper_text(title="Late", published="2025-12-24"))
    monkeypatch.chdir(papers)  # newsletter.toml is found from a subfolder, like git
    result = CliRunner().invoke(cli, ["compose", "--date", "2025-12-05", "--dry-run"])
    assert result.exit_code == 0, result.output
    picks = [line.split()[1] for line in result.output.splitlines() if line.startswith("pick")]
    assert picks == ["sparse-kv", "raft-fuzz"]
    rejected = {line.split()[1]: line for line in result.output.splitlines()
                if line.startswith("reject")}
    assert "(already featured on 2025-11-28)" in rejected["mixture-of-depths-2"]
    assert "(already featured on 2025-10-19)" in rejected["dynamoe"]
    assert "after 2025-12-05" in rejected["late"]
    assert len(rejected) == 11


def test_load_content_refuses_an_unknown_track_only_when_given_the_tracks(
        project: Project) -> None:
    """What every command gets from `tracks=config.tracks`; without it, any track loads."""
    project.add_paper("bio", title="Biology", track="biology")
    assert load_content(project.root / "seeds").papers["bio"].track == "biology"
    with pytest.raises(ContentError) as error:
        load_content(project.root / "seeds", tracks=["ml", "systems"])
    assert (error.value.code, error.value.path.name, error.value.line) == (
        "unknown-track", "bio.md", 11)
