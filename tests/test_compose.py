"""Selection for new dates: eligibility, tracks, ranking, drafts and --dry-run."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.compose.selection import Rejection, select_papers
from newsletter.config import Selection
from newsletter.content.documents import read_document
from newsletter.content.readers import load_content, parse_issue
from newsletter.errors import ContentError
from support.project import Project


def _arxiv(number: int) -> dict[str, str]:
    """A valid arXiv link of its own: papers sharing one are the same paper."""
    return {"arXiv": f"https://arxiv.org/abs/2411.{number:05d}"}


def _pool(project: Project) -> None:
    project.add_paper("old-oral", title="Old Oral", published="2025-11-01", presentation="Oral",
                      links=_arxiv(1))
    project.add_paper("new-poster", title="New Poster", published="2025-12-01",
                      presentation="Poster", links=_arxiv(2))
    project.add_paper("new-spotlight", title="New Spotlight", published="2025-12-02",
                      presentation="Spotlight", links=_arxiv(3))
    project.add_paper("no-presentation", title="Plain", published="2025-12-03", presentation=None,
                      links=_arxiv(4))
    project.add_paper("sys-poster", title="Systems Poster", published="2025-11-20",
                      presentation="Poster", track="systems", venue="OSDI 2025", links=_arxiv(5))
    project.add_paper("future", title="Future", published="2026-01-10", links=_arxiv(6))
    project.add_paper("ancient", title="Ancient", published="2024-01-01", links=_arxiv(7))
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
    project.add_paper("b", title="Beta", published="2025-12-01", links=_arxiv(1))
    project.add_paper("a", title="Alpha", published="2025-12-01", links=_arxiv(2))
    project.add_paper("c", title="Gamma", published="2025-12-05", links=_arxiv(3))
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
                                                    presentation="Poster", published="2025-12-01",
                                                    links=_arxiv(1)))
    (papers / "raft-fuzz.md").write_text(paper_text(title="Fuzzing Raft", venue="OSDI 2025",
                                                    presentation=None, track="systems",
                                                    published="2025-11-30", links=_arxiv(2)))
    (papers / "late.md").write_text(paper_text(title="Late", published="2025-12-24",
                                               links=_arxiv(3)))
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


def _bundled(tmp_path, monkeypatch):
    import shutil

    from support.project import REPO

    for name in ("seeds", "templates"):
        shutil.copytree(REPO / name, tmp_path / name)
    shutil.copy(REPO / "newsletter.toml", tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "seeds" / "papers"


def test_the_same_paper_is_never_featured_twice_on_the_bundled_seeds(tmp_path,
                                                                     monkeypatch) -> None:
    """The seeds feature Mixture of Depths twice; a third file of it is refused, by name."""
    from support.project import paper_text

    papers = _bundled(tmp_path, monkeypatch)
    (papers / "mod-again.md").write_text(paper_text(
        title="Mixture of Depths: Adaptive Compute, Revisited", presentation="Oral",
        published="2025-12-01", links={"arXiv": "https://arxiv.org/abs/2404.02258"}))
    (papers / "mod-preprint.md").write_text(paper_text(
        title="Dynamic Depth for Transformers", venue="arXiv", presentation="Oral",
        published="2025-12-02", links={"arXiv": "https://arxiv.org/abs/2411.12345v2"}))
    (papers / "sparse-kv.md").write_text(paper_text(
        title="Sparse KV Caches", presentation="Poster", published="2025-12-01",
        links=_arxiv(1)))
    dry = CliRunner().invoke(cli, ["compose", "--date", "2025-12-05", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    lines = dry.output.splitlines()
    assert "reject  mod-again  (same paper as mixture-of-depths, featured on 2025-11-06)" in lines
    assert "reject  mod-preprint  (same paper as mixture-of-depths-2, featured on 2025-11-28)" \
        in lines
    assert [line.split()[1] for line in lines if line.startswith("pick")] == ["sparse-kv"]
    done = CliRunner().invoke(cli, ["compose", "--date", "2025-12-05"])
    assert done.exit_code == 0, done.output
    issue = parse_issue(read_document(tmp_path / "seeds/issues/2025-12-05.md"))
    assert issue.papers == ["sparse-kv"]


def test_of_two_unfeatured_files_of_one_paper_at_most_one_is_picked(project: Project) -> None:
    project.add_paper("mod", title="Mixture of Depths", presentation="Oral",
                      links={"arXiv": "https://arxiv.org/abs/2404.02258"})
    project.add_paper("mod-copy", title="MoD: Dynamic Compute", presentation="Spotlight",
                      links={"arXiv": "https://arxiv.org/abs/2404.02258v2"})
    project.add_paper("vllm", title="PagedAttention", venue="SOSP 2023", track="systems",
                      links={"DOI": "https://doi.org/10.1145/3600006.3613165"})
    project.add_paper("vllm-copy", title="vLLM", venue="arXiv", track="systems",
                      links={"DOI": "https://doi.org/10.1145/3600006.3613165"})
    content = load_content(project.root / "seeds")
    result = select_papers(content.papers, content.issues, dt.date(2025, 11, 20),
                           Selection(max_papers=4, window_days=60), ["ml", "systems"])
    assert [p.slug for p in result.papers] == ["mod", "vllm"]
    reasons = {r.slug: r.reason for r in result.rejections}
    assert reasons == {"mod-copy": "same paper as mod, also in the pool",
                       "vllm-copy": "same paper as vllm, also in the pool"}


def test_an_unwritten_paper_is_never_picked_nor_composed(project: Project) -> None:
    todo = ("## Key Finding\n\nTODO: write the key finding: what the paper found.\n\n"
            "## Why It Matters\n\nIt matters.\n")
    project.add_paper("todo", title="Unwritten", body=todo, links=_arxiv(1))
    project.add_paper("done", title="Written", presentation="Poster", links=_arxiv(2))
    content = load_content(project.root / "seeds")
    result = select_papers(content.papers, {}, dt.date(2025, 11, 20), Selection(), ["ml"])
    assert [p.slug for p in result.papers] == ["done"]
    assert result.rejections == [Rejection(
        "todo", "not written yet: 'TODO: write ...' in ## Key Finding")]
    project.add_issue("2025-11-20", ["todo", "done"])
    for args in (["compose", "--date", "2025-11-20"],
                 ["compose", "--date", "2025-11-20", "--dry-run"]):
        refused = CliRunner().invoke(cli, args)
        assert refused.exit_code == 2
        assert refused.output == (
            "error: seeds/papers/todo.md: paper 'todo' is not written yet: ## Key Finding still "
            "holds 'TODO: write ...' (write it in place of the TODO line; `newsletter check` "
            "lists each one)\n")
    assert not (project.root / "outbox").exists()
