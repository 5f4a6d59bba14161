"""Malformed inputs: each gives exit code 2, one line naming file/line/field, nothing written."""

from __future__ import annotations

import json
import shutil

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


# --- The QA pass: each command answers a bad content file or folder with one line ---------

COMMANDS = {
    "compose": ["compose", "--date", "2025-11-28"],
    "papers": ["papers"],
    "send": ["send", "--date", "2025-11-28", "--dry-run"],
}


def _one_error_line(args: list[str]) -> str:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.exception is not None
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def _clean_pool(project: Project) -> None:
    """The valid pool without a finding of `check` (its two papers have their own links)."""
    project.add_paper("mod", title="Mixture of Depths")
    project.add_paper("raft", title="Verified Raft", venue="OSDI 2025", track="systems",
                      presentation=None, links={"Paper": "https://www.usenix.org/osdi25/raft"})


def _unquoted(text: str, value: str) -> str:
    """YAML reads an unquoted 2025-02-30 as a timestamp, not as text."""
    assert f'"{value}"' in text
    return text.replace(f'"{value}"', value)


MORE_BROKEN_PAPERS = {
    "unquoted impossible date": (
        _unquoted(paper_text(published="2025-02-30"), "2025-02-30"),
        "mod.md:10: paper: field 'published': '2025-02-30' is not a real date"),
    "unquoted impossible month": (
        _unquoted(paper_text(published="2025-13-01"), "2025-13-01"),
        "mod.md:10: paper: field 'published': '2025-13-01' is not a real date"),
    "value yaml cannot construct": (
        paper_text(extra_front="tags: [!!int x]\n"),
        "mod.md:15: front matter: cannot read 'x' as int (fix the YAML"),
    "unknown track": (
        paper_text(track="biology"),
        "mod.md:11: unknown track 'biology' (use one of: ml, systems; or add 'biology' to "
        "'tracks' in newsletter.toml)"),
    "key given twice": (
        paper_text(extra_front='title: "Another Title"\n'),
        "mod.md:15: front matter: 'title' is given twice, on lines 2 and 15 (keep one of them"),
    "nested key given twice": (
        paper_text().replace("  arXiv: https://arxiv.org/abs/2411.12345\n",
                             "  arXiv: https://arxiv.org/abs/2411.12345\n"
                             "  arXiv: https://arxiv.org/abs/2411.54321\n"),
        "mod.md:14: front matter: 'arXiv' is given twice, on lines 13 and 14"),
    "over the size limit": (
        paper_text(body=paper_text().split("---\n\n", 1)[1] + "\n## Results\n\n"
                   + "A pasted table row, again and again.\n" * 30_000),
        "mod.md: is 1,"),
}


def _paper_cases():
    for case in sorted(MORE_BROKEN_PAPERS):
        for command in sorted(COMMANDS):
            yield pytest.param(case, command, id=f"{case}-{command}")


@pytest.mark.parametrize("case,command", list(_paper_cases()))
def test_every_command_refuses_a_broken_paper_with_one_line(project: Project, case: str,
                                                            command: str) -> None:
    text, expected = MORE_BROKEN_PAPERS[case]
    project.add_paper("raft", title="Verified Raft", venue="OSDI 2025", track="systems")
    project.add_paper("mod", text=text)
    project.add_issue("2025-11-28", ["mod", "raft"])
    before = project.files()
    assert expected in _one_error_line(COMMANDS[command])
    assert project.files() == before


def test_the_size_limit_is_checked_before_reading(project: Project) -> None:
    _valid_pool(project)
    with open(project.root / "seeds/papers/huge.md", "wb") as handle:
        handle.truncate(200_000_000)  # sparse: reading it would take seconds and 200 MB
    line = _one_error_line(COMMANDS["papers"])
    assert line == ("error: seeds/papers/huge.md: is 200,000,000 bytes, over the "
                    "1,000,000-byte limit for a paper or issue file (a paper or issue is a few "
                    "KB of Markdown: remove what was pasted in by mistake, or link to it)")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_unquoted_impossible_issue_date_is_one_line(project: Project, command: str) -> None:
    _valid_pool(project)
    project.add_issue("2025-11-31", ["mod"])  # `date: 2025-11-31`, unquoted
    line = _one_error_line(COMMANDS[command])
    assert ("seeds/issues/2025-11-31.md:2: issue: field 'date': '2025-11-31' is not a real date"
            in line)


def test_a_duplicate_papers_key_in_an_issue_is_refused(project: Project) -> None:
    _valid_pool(project)
    text = issue_text("2025-11-28", ["mod"]).replace("---\n\n", "papers: [raft]\n---\n\n", 1)
    project.add_issue("2025-11-28", [], text=text)
    line = _one_error_line(COMMANDS["compose"])
    assert "2025-11-28.md:6: front matter: 'papers' is given twice, on lines 4 and 6" in line


def test_the_unknown_track_line_is_the_finding_of_check(project: Project) -> None:
    _clean_pool(project)
    project.add_paper("mod", title="Mixture of Depths", track="biology")
    finding = json.loads(CliRunner().invoke(cli, ["check", "--format", "json"]).output)[
        "findings"]
    assert [f["code"] for f in finding] == ["unknown-track"]
    expected = f"error: {finding[0]['path']}:{finding[0]['line']}: {finding[0]['message']} " \
               f"({finding[0]['hint']})"
    for command in ("compose", "papers"):
        assert _one_error_line(COMMANDS[command]) == expected


def test_no_tracks_configured(project: Project) -> None:
    _valid_pool(project)
    config = project.root / "newsletter.toml"
    config.write_text(config.read_text().replace('tracks = ["ml", "systems"]', "tracks = []"))
    assert _one_error_line(COMMANDS["papers"]).endswith(
        "unknown track 'ml' (no tracks are configured: add 'ml' to 'tracks' in newsletter.toml)")


@pytest.mark.parametrize("where", ["paper", "issue"])
def test_a_byte_order_mark_is_not_part_of_the_file(project: Project, where: str) -> None:
    _clean_pool(project)
    path = project.add_issue("2025-11-28", ["mod", "raft"])
    if where == "paper":
        path = project.root / "seeds/papers/mod.md"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    result, written = _compose(project)
    assert result.exit_code == 0, result.output
    assert "outbox/2025-11-28/issue.html" in written
    html = (project.root / "outbox/2025-11-28/issue.html").read_text(encoding="utf-8")
    assert "Mixture of Depths" in html and "\ufeff" not in html
    check = CliRunner().invoke(cli, ["check", "--date", "2025-11-28"])
    assert check.exit_code == 0, check.output


def _no_content_folder(project: Project) -> None:
    shutil.rmtree(project.root / "seeds")


def _content_folder_is_a_file(project: Project) -> None:
    shutil.rmtree(project.root / "seeds")
    (project.root / "seeds").write_text("not a folder\n")


def _no_papers_folder(project: Project) -> None:
    shutil.rmtree(project.root / "seeds" / "papers")


CONTENT_FOLDERS = {
    "missing": (_no_content_folder, "error: seeds: content folder not found"),
    "a file": (_content_folder_is_a_file, "error: seeds: is a file, not the content folder"),
    "without papers/": (_no_papers_folder, "error: seeds: content folder has no papers/ folder"),
}


@pytest.mark.parametrize("command", [*sorted(COMMANDS), "check"])
@pytest.mark.parametrize("case", sorted(CONTENT_FOLDERS))
def test_a_missing_content_folder_is_one_line_for_every_command(project: Project, case: str,
                                                                command: str) -> None:
    break_it, expected = CONTENT_FOLDERS[case]
    break_it(project)
    line = _one_error_line(COMMANDS.get(command, ["check"]))
    assert line.startswith(expected + " (") and "set content_dir in newsletter.toml" in line


def test_a_content_dir_setting_that_points_nowhere(project: Project) -> None:
    _valid_pool(project)
    config = project.root / "newsletter.toml"
    config.write_text('content_dir = "content"\n' + config.read_text())
    assert _one_error_line(COMMANDS["compose"]).startswith(
        "error: content: content folder not found (set content_dir in newsletter.toml")
