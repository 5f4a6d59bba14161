"""`newsletter check`: each rule on a small bad input, and the exact findings on the seeds."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.content.documents import read_document
from newsletter.lint.links import arxiv_id_problem, link_problem
from newsletter.lint.runner import run_check
from support.project import REPO, Project, issue_text, paper_text

GOOD_BODY = paper_text().split("---\n\n", 1)[1]


def _arxiv(number: int) -> dict[str, str]:
    """A valid arXiv link of its own: papers sharing one are duplicates."""
    return {"arXiv": f"https://arxiv.org/abs/2411.{number:05d}"}


def _findings(project: Project, date: str | None = None) -> set[tuple[str, str, int | None]]:
    """(code, file name, line) of every finding."""
    when = dt.date.fromisoformat(date) if date else None
    report = run_check(project.config(), when)
    return {(f.code, f.path.name if f.path else "", f.line) for f in report.findings}


def _pool(project: Project, body: str = GOOD_BODY, **kwargs) -> None:
    """Paper 'mod' with `body`, a valid 'raft', and an issue of both on 2025-11-28."""
    project.add_paper("mod", body=body, **kwargs)
    project.add_paper("raft", title="Verified Raft", venue="OSDI 2025", track="systems",
                      presentation=None, links={"Paper": "https://www.usenix.org/osdi25/raft"})
    project.add_issue("2025-11-28", ["mod", "raft"])


def test_a_clean_project_has_no_findings(project: Project) -> None:
    _pool(project)
    result = CliRunner().invoke(cli, ["check"])
    assert result.exit_code == 0, result.output
    assert "0 error(s), 0 warning(s)" in result.output
    assert _findings(project) == set()


@pytest.mark.parametrize("identifier", ["2411.12345", "2411.12345v2", "0704.0001", "1412.1234",
                                        "1501.00001", "hep-th/9901001", "math.GT/0309136",
                                        "cond-mat/0102536v1"])
def test_valid_arxiv_identifiers(identifier: str) -> None:
    assert arxiv_id_problem(identifier) is None
    assert link_problem(f"https://arxiv.org/abs/{identifier}", arxiv=True) is None


@pytest.mark.parametrize("identifier,why", [
    ("2025.12345", "month 25 does not exist"), ("2413.12345", "month 13 does not exist"),
    ("1412.12345", "4 digits"), ("2411.1234", "5 digits"), ("0612.1234", "April 2007"),
    ("hep-th/9913001", "month 13"), ("2411", "neither")])
def test_invalid_arxiv_identifiers(identifier: str, why: str) -> None:
    assert why in (arxiv_id_problem(identifier) or "")
    problem = link_problem(f"https://arxiv.org/abs/{identifier}", arxiv=True)
    assert problem and problem.code == "malformed-link"


@pytest.mark.parametrize("url,code", [
    ("https://arxiv.org/abs/2510.xxxxx", "placeholder-link"),
    ("https://github.com/TODO", "placeholder-link"),
    ("https://example.com/paper", "placeholder-link"),
    ("https://www.usenix.org/conference/osdi25/<slug>", "placeholder-link"),
    ("http://www.usenix.org/conference/osdi25", "not-https"),
    ("ftp://files.org/paper.pdf", "not-https"),
    ("/papers/mod.pdf", "malformed-link"),
    ("https://localhost/x", "malformed-link"),
    ("https://arxiv.org/abs/", "malformed-link"),
    ("https://arxiv.org/pdf/2025.12345.pdf", "malformed-link"),
    ("https://arxiv.org/abs/2411.12345", None),
    ("https://arxiv.org/pdf/2411.12345v1.pdf", None),
    ("https://arxiv.org/list/cs.LG/recent", None),  # not a paper link, and not named arXiv
    ("https://www.usenix.org/conference/osdi25/presentation/chen-ironraft", None),
    ("mailto:editor@news.org", None),
])
def test_link_problems(url: str, code: str | None) -> None:
    problem = link_problem(url)
    assert (problem.code if problem else None) == code


def test_a_link_named_arxiv_must_be_on_arxiv(project: Project) -> None:
    _pool(project, links={"arXiv": "https://www.semanticscholar.org/paper/123"})
    assert _findings(project) == {("malformed-link", "mod.md", 13)}


def test_front_matter_links_are_checked_with_their_line(project: Project) -> None:
    _pool(project, links={"arXiv": "https://arxiv.org/abs/2025.12345",
                          "Code": "http://github.com/org/mod"})
    assert _findings(project) == {("malformed-link", "mod.md", 13), ("not-https", "mod.md", 14)}


def test_missing_and_empty_required_sections(project: Project) -> None:
    _pool(project, body="## Key Finding\n\n## Why It Matters\n\nBecause.\n")
    project.add_paper("lost", title="Lost", body="## Key Finding\n\nFound.\n", links=_arxiv(7))
    project.add_issue("2025-11-20", ["lost"])
    found = _findings(project)
    # One finding each, at the empty heading or the file; not also 'empty-section' or the
    # reader's own "paper has no '## Why It Matters' section".
    assert found == {("required-section", "mod.md", 17), ("required-section", "lost.md", None)}
    report = run_check(project.config())
    assert "2025-11-20" in report.not_rendered and "2025-11-28" in report.rendered


def test_empty_sections_and_subsections(project: Project) -> None:
    body = GOOD_BODY + textwrap.dedent("""
        ## Results

        ## Practical Applications

        ### Related Work

        ### Code

        - https://github.com/org/mod
        """)
    _pool(project, body=body)
    assert _findings(project) == {("empty-section", "mod.md", 27),
                                  ("empty-section", "mod.md", 31)}


def test_a_required_section_with_only_empty_subsections_is_empty(project: Project) -> None:
    _pool(project, body="## Key Finding\n\nFound.\n\n## Why It Matters\n\n### For Engineers\n")
    assert _findings(project) == {("required-section", "mod.md", 21)}  # not its ### too


def test_lead_in_without_its_list(project: Project) -> None:
    body = GOOD_BODY + textwrap.dedent("""
        ## Results

        The method achieves:

        The next paragraph is not a list.

        **Benchmarks:**

        Kept as prose.

        Measured on three clusters:

        - 2x faster

        Configuration used:

            workers = 8

        Left dangling at the end:
        """)
    _pool(project, body=body)
    assert _findings(project) == {("lead-in-without-list", "mod.md", line)
                                  for line in (29, 33, 45)}


def test_lead_in_line_is_the_line_with_the_colon(project: Project) -> None:
    _pool(project, body=GOOD_BODY + "\nA long sentence that wraps\nonto a second line:\n")
    assert _findings(project) == {("lead-in-without-list", "mod.md", 28)}


def test_body_links_and_images(project: Project) -> None:
    body = GOOD_BODY + textwrap.dedent("""
        See [the code](https://github.com/TODO) and [the slides](http://slides.org/mod).

        ![](https://cdn.pictures.net/figure.png)

        ![Throughput by batch size](https://cdn.pictures.net/chart.png)
        """)
    _pool(project, body=body)
    assert _findings(project) == {("placeholder-link", "mod.md", 27), ("not-https", "mod.md", 27),
                                  ("image-alt", "mod.md", 29)}


def test_same_paper_under_two_titles(project: Project) -> None:
    project.add_paper("mod", title="Mixture-of-Depths: Dynamic Compute Allocation",
                      links=_arxiv(12345))
    project.add_paper("mod-2", title="Mixture of Depths - Conditional Computation",
                      links=_arxiv(1))
    project.add_paper("mod-3", title="Mixture of Depths: At Another Venue", venue="ICML 2025",
                      links=_arxiv(2))
    project.add_paper("renamed", title="A Different Name",
                      links={"arXiv": "https://arxiv.org/abs/2411.12345v2"})
    for slug, title in [("fv-1", "Formal Verification of Distributed Consensus Under Partial "
                                 "Synchrony"),
                        ("fv-2", "Formal Verification of Distributed Consensus with Practical "
                                 "Performance"),
                        ("fv-3", "Formal Verification of Neural Network Controllers")]:
        project.add_paper(slug, title=title, venue="OSDI 2025", track="systems",
                          links={"Paper": f"https://www.usenix.org/osdi25/{slug}"})
    project.add_issue("2025-11-06", ["mod"])
    project.add_issue("2025-11-28", ["mod-2"])
    found = _findings(project)
    # Reported at the copy featured later (mod-2) or never featured ('renamed' shares the
    # arXiv id of 'mod'); a same name at another venue and the OSDI papers are different.
    assert found == {("duplicate-paper", "mod-2.md", 2), ("duplicate-paper", "renamed.md", 2)}
    report = run_check(project.config())
    message = next(f for f in report.findings if f.path.name == "mod-2.md")
    assert "featured on 2025-11-06" in message.message
    assert "remove it from the 2025-11-28 issue" in message.hint


def test_issue_naming_a_missing_paper(project: Project) -> None:
    _pool(project)
    project.add_issue("2025-11-20", ["raft"], text=issue_text("2025-11-20", ["raft", "ghost"]))
    assert _findings(project) == {("missing-paper", "2025-11-20.md", 6)}
    assert run_check(project.config()).not_rendered == {
        "2025-11-20": "paper 'ghost' is missing or invalid"}


def test_unknown_track(project: Project) -> None:
    _pool(project, track="robotics")
    assert _findings(project) == {("unknown-track", "mod.md", 11)}


def test_every_invalid_file_is_reported_not_just_the_first(project: Project) -> None:
    _pool(project)
    project.add_paper("bad-1", text="no front matter\n")
    project.add_paper("bad-2", title="Bad", presentation="Keynote", links=_arxiv(9))
    project.add_issue("2025-11-20", [], text="---\ndate: 2025-11-20\npapers: []\n---\n")
    assert _findings(project) == {("invalid-file", "bad-1.md", 1),
                                  ("invalid-file", "bad-2.md", 9),
                                  ("invalid-file", "2025-11-20.md", 3)}


def test_html_over_90_kb(project: Project) -> None:
    body = GOOD_BODY + "\n## Results\n\n" + "\n\n".join(
        f"Paragraph {n}: a finding worth telling readers about, with numbers." for n in range(900))
    _pool(project, body=body)
    assert ("html-size", "2025-11-28.md", None) in _findings(project)


def test_plaintext_lines_over_78_columns_point_at_their_source(project: Project) -> None:
    word = "an-unbreakable-identifier-" * 4
    _pool(project, body=GOOD_BODY + f"\nThe build id is {word} in the logs.\n")
    (project.root / "templates" / "issue.txt.j2").write_text(
        (REPO / "templates" / "issue.txt.j2").read_text().replace(
            "Unsubscribe with one click:", "Unsubscribe with one click: " + "=" * 60))
    assert _findings(project) == {("text-width", "mod.md", 27),
                                  ("text-width", "issue.txt.j2", 50)}


def test_rendered_html_images_and_links_from_templates(project: Project) -> None:
    _pool(project)
    template = project.root / "templates" / "issue.mjml.j2"
    text = template.read_text()
    text = text.replace('<mj-section padding="20px 0 32px">', '<mj-section padding="20px 0 32px">'
                        '\n      <mj-column><mj-image src="https://cdn.news.org/logo.png" />'
                        '</mj-column></mj-section>\n    <mj-section>')
    text = text.replace("with one click.</p>",
                        'with one click. <a href="http://archive.news.org/">Archive</a></p>')
    template.write_text(text)
    # An http base_url makes the unsubscribe link http too: that one is filled in per reader.
    config = project.root / "newsletter.toml"
    config.write_text(config.read_text().replace("https://news.example.org",
                                                 "http://news.example.org"))
    found = _findings(project)
    assert found == {("image-alt", "issue.mjml.j2", 120), ("not-https", "issue.mjml.j2", 126)}


def test_a_broken_template_is_a_finding(project: Project) -> None:
    _pool(project)
    (project.root / "templates" / "issue.txt.j2").write_text("{% if %}\n")
    assert _findings(project) == {("render-error", "issue.txt.j2", 1)}


def test_date_checks_that_issue_and_its_papers_only(project: Project) -> None:
    _pool(project, track="robotics")
    project.add_paper("other", title="Other", links={"arXiv": "https://arxiv.org/abs/2510.xxxxx"})
    project.add_issue("2025-11-20", ["other"])
    assert _findings(project, "2025-11-28") == {("unknown-track", "mod.md", 11)}
    assert _findings(project, "2025-11-20") == {("placeholder-link", "other.md", 13)}
    report = run_check(project.config(), dt.date(2025, 11, 20))
    assert (report.papers, report.issues, report.rendered) == (1, 1, ["2025-11-20"])


def test_date_without_an_issue_checks_the_draft_compose_would_write(project: Project) -> None:
    project.add_paper("mod", links={"arXiv": "https://arxiv.org/abs/2510.xxxxx"})
    project.add_paper("old", title="Old", published="2024-01-01", track="robotics",
                      links=_arxiv(3))
    assert _findings(project, "2025-11-28") == {("placeholder-link", "mod.md", 13)}
    assert not (project.root / "seeds" / "issues" / "2025-11-28.md").exists()


def test_cli_exit_codes_and_json(project: Project) -> None:
    _pool(project, track="robotics")
    result = CliRunner().invoke(cli, ["check", "--format", "json"])
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["summary"]["errors"] == 1 and data["summary"]["exit_code"] == 1
    assert data["findings"] == [{
        "severity": "error", "path": "seeds/papers/mod.md", "line": 11,
        "message": "unknown track 'robotics'",
        "hint": "use one of: ml, systems; or add 'robotics' to 'tracks' in newsletter.toml",
        "code": "unknown-track"}]
    text = CliRunner().invoke(cli, ["check"])
    assert text.exit_code == 1
    assert text.output.startswith("seeds/papers/mod.md:11: error: unknown track 'robotics' "
                                  "[unknown-track]\n    fix: use one of: ml, systems")
    for bad in (["check", "--date", "2025-02-30"], ["check", "--format", "xml"]):
        assert CliRunner().invoke(cli, bad).exit_code == 2
    shutil.rmtree(project.root / "seeds")
    missing = CliRunner().invoke(cli, ["check"])
    assert missing.exit_code == 2 and "content folder not found" in missing.output


# What `check` finds in the five legacy seeds, imported afresh: each judged a real problem.
SEED_FINDINGS = {
    ("lead-in-without-list", "issues/2025-10-19.md", 14),  # its two items lost their bullets
    ("lead-in-without-list", "issues/2025-11-06.md", 13),
    ("empty-section", "issues/2025-11-16.md", 22),  # ### Related Work
    ("empty-section", "issues/2025-11-16.md", 24),  # ### Implementation Resources
    ("malformed-link", "papers/attention-is-not-all-you-need.md", 13),  # arXiv 2025.11234
    ("lead-in-without-list", "papers/attention-is-not-all-you-need.md", 21),
    ("lead-in-without-list", "papers/attention-is-not-all-you-need.md", 27),
    ("malformed-link", "papers/byzantine-consensus-in-1-rtt.md", 11),  # arXiv 2025.11421
    ("lead-in-without-list", "papers/byzantine-consensus-in-1-rtt.md", 20),
    ("lead-in-without-list", "papers/byzantine-consensus-in-1-rtt.md", 26),
    ("placeholder-link", "papers/dynamoe.md", 14),  # arXiv 2510.xxxxx
    ("placeholder-link", "papers/mixture-of-depths.md", 14),  # arXiv 2510.xxxxx
    ("empty-section", "papers/mixture-of-depths.md", 42),  # ## Practical Implications
    ("duplicate-paper", "papers/mixture-of-depths-2.md", 2),  # = mixture-of-depths (Nov 6)
    ("malformed-link", "papers/tree-attention.md", 13),  # arXiv 2025.12345
}


@pytest.fixture(scope="module")
def imported_seeds(tmp_path_factory: pytest.TempPathFactory, legacy_seeds: Path) -> Path:
    root = tmp_path_factory.mktemp("seeds")
    shutil.copy(REPO / "newsletter.toml", root)
    shutil.copytree(REPO / "templates", root / "templates")
    result = CliRunner().invoke(cli, ["--config", str(root / "newsletter.toml"), "import",
                                      *map(str, sorted(legacy_seeds.glob("*.txt")))])
    assert result.exit_code == 0, result.output
    return root


def _seed_findings(root: Path, *args: str) -> tuple[int, set[tuple[str, str, int | None]]]:
    result = CliRunner().invoke(cli, ["--config", str(root / "newsletter.toml"), "check",
                                      "--format", "json", *args])
    data = json.loads(result.output)
    content = str(root / "seeds") + "/"
    return result.exit_code, {(f["code"], f["path"].removeprefix(content), f["line"])
                              for f in data["findings"]}


def test_the_imported_seeds_give_exactly_their_real_problems(imported_seeds: Path) -> None:
    code, found = _seed_findings(imported_seeds)
    assert code == 1
    assert found == SEED_FINDINGS


@pytest.mark.parametrize("date", ["2025-10-19", "2025-11-04", "2025-11-06", "2025-11-16",
                                  "2025-11-28"])
def test_each_seed_issue_alone(imported_seeds: Path, date: str) -> None:
    issue = read_document(imported_seeds / "seeds" / "issues" / f"{date}.md")
    files = {f"issues/{date}.md"} | {f"papers/{slug}.md" for slug in issue.meta["papers"]}
    expected = {finding for finding in SEED_FINDINGS if finding[1] in files}
    assert _seed_findings(imported_seeds, "--date", date) == (1, expected)


# --- The QA pass -----------------------------------------------------------------------------


def test_template_and_config_findings_belong_to_every_date(project: Project) -> None:
    _pool(project)
    project.add_paper("new", title="New", published="2025-12-01", links=_arxiv(5))
    config = project.root / "newsletter.toml"
    config.write_text(config.read_text().replace(
        'title = "Research Update"', 'title = "Research Update"\ntagline = "' + "long " * 16
        + '"'))
    assert {(code, name) for code, name, _ in _findings(project, "2025-11-28")} == {
        ("text-width", "newsletter.toml")}
    template = project.root / "templates" / "issue.mjml.j2"
    template.write_text("{% if %}\n" + template.read_text())
    for date in ("2025-11-28", "2025-12-05"):  # an issue file, and the draft compose would write
        assert _findings(project, date) == {("render-error", "issue.mjml.j2", 1)}
    result = CliRunner().invoke(cli, ["check", "--date", "2025-12-05"])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("templates/issue.mjml.j2:1: error: template error: ")


def test_unquoted_impossible_dates_are_findings_and_the_check_goes_on(project: Project) -> None:
    _pool(project)
    project.add_paper("leap", text=paper_text(title="Leap", links=_arxiv(6), published="2025-02-30")
                      .replace('"2025-02-30"', "2025-02-30"))
    project.add_issue("2025-11-31", ["raft"])  # `date: 2025-11-31`, unquoted
    project.add_paper("other", title="Other", links={"arXiv": "https://arxiv.org/abs/2510.xxxxx"})
    report = run_check(project.config())
    found = {(f.code, f.path.name if f.path else "", f.line): f.message for f in report.findings}
    assert found == {
        ("invalid-file", "leap.md", 10): "paper: field 'published': '2025-02-30' is not a real "
                                         "date: day is out of range for month",
        ("invalid-file", "2025-11-31.md", 2): "issue: field 'date': '2025-11-31' is not a real "
                                              "date: use YYYY-MM-DD, e.g. 2025-11-28",
        ("placeholder-link", "other.md", 13): "arXiv link 'https://arxiv.org/abs/2510.xxxxx' has "
                                              "a placeholder identifier"}
    assert report.rendered == ["2025-11-28"]


def test_a_key_given_twice_is_an_invalid_file(project: Project) -> None:
    _pool(project)
    issue = project.root / "seeds" / "issues" / "2025-11-28.md"
    issue.write_text(issue.read_text().replace("status: sent\n", "status: sent\npapers: [raft]\n"))
    project.add_paper("twice", text=paper_text(title="Twice", links=_arxiv(8),
                                               extra_front="track: systems\n"))
    assert _findings(project) == {("invalid-file", "2025-11-28.md", 5),
                                  ("invalid-file", "twice.md", 15)}
    report = run_check(project.config())
    messages = sorted(f.message for f in report.findings)
    assert messages == ["front matter: 'papers' is given twice, on lines 4 and 5",
                        "front matter: 'track' is given twice, on lines 11 and 15"]


def test_a_file_over_the_size_limit_is_an_invalid_file(project: Project) -> None:
    _pool(project)
    big = project.add_paper("big", title="Big", links=_arxiv(4),
                            body=GOOD_BODY + "\n## Results\n\n" + "A pasted row.\n" * 80_000)
    project.add_paper("other", title="Other", links={"arXiv": "https://arxiv.org/abs/2510.xxxxx"})
    report = run_check(project.config())
    assert {(f.code, f.path.name, f.line) for f in report.findings} == {
        ("invalid-file", "big.md", None), ("placeholder-link", "other.md", 13)}
    finding = next(f for f in report.findings if f.code == "invalid-file")
    assert finding.message == (f"is {big.stat().st_size:,} bytes, over the 1,000,000-byte limit "
                               "for a paper or issue file")


@pytest.mark.parametrize("where", ["papers/mod.md", "issues/2025-11-28.md"])
def test_a_byte_order_mark_keeps_the_lines(project: Project, where: str) -> None:
    _pool(project, links={"arXiv": "https://arxiv.org/abs/2510.xxxxx"})
    path = project.root / "seeds" / where
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert _findings(project) == {("placeholder-link", "mod.md", 13)}
    assert _findings(project, "2025-11-28") == {("placeholder-link", "mod.md", 13)}


def test_unwritten_sections_are_errors(project: Project) -> None:
    """The TODO lines `newsletter add` leaves: a paper is not sent until they are written."""
    body = ("## Key Finding\n\nTODO: write the key finding: what the paper found.\n\n"
            "## Why It Matters\n\nFor staff engineers: cost.\n\n  TODO: write more.\n")
    _pool(project, body=body, takeaway="TODO: write the one-line takeaway.")
    assert _findings(project) == {("unwritten-section", "mod.md", 14),
                                  ("unwritten-section", "mod.md", 19),
                                  ("unwritten-section", "mod.md", 25)}
    messages = {f.message for f in run_check(project.config()).findings}
    assert messages == {"the takeaway is not written yet",
                        "section '## Key Finding' is not written yet",
                        "section '## Why It Matters' is not written yet"}


def test_same_paper_by_doi(project: Project) -> None:
    project.add_paper("vllm", title="PagedAttention", venue="SOSP 2023", track="systems",
                      links={"DOI": "https://doi.org/10.1145/3600006.3613165"})
    project.add_paper("vllm-2", title="vLLM", venue="arXiv", track="systems",
                      links={"DOI": "https://dx.doi.org/10.1145/3600006.3613165"})
    report = run_check(project.config())
    [finding] = report.findings
    assert (finding.code, finding.path.name) == ("duplicate-paper", "vllm-2.md")
    assert finding.message.endswith("the same DOI 10.1145/3600006.3613165")


def _online_pool(project: Project) -> None:
    project.add_paper("mod", title="Mixture of Depths",
                      links={"arXiv": "https://arxiv.org/abs/2404.02258v1"})
    project.add_paper("gone", title="A Paper arXiv Never Had", links=_arxiv(54321))
    project.add_paper("withdrawn", title="Linear Attention", venue="ICML 2025",
                      links={"Paper": "https://proceedings.mlr.press/v235/linear.html"},
                      body=GOOD_BODY + "\nSee [the preprint](https://arxiv.org/abs/2402.01234v2).\n")


@pytest.fixture
def arxiv_api(monkeypatch: pytest.MonkeyPatch):
    """The recorded arXiv API on 127.0.0.1, with the settings pointing at it."""
    from newsletter.sources import settings as source_settings
    from newsletter.sources.settings import SourcesSettings
    from support.http import Reply, recorded_server

    answers = {"2402.01234,2404.02258,2411.54321": Reply.recorded("arxiv/check-batch.xml"),
               "2404.02258": Reply.recorded("arxiv/2404.02258.xml"),
               "2402.01234": Reply.recorded("unavailable.html", status=503)}

    def route(path: str, query: dict[str, str]) -> Reply:
        return answers.get(query.get("id_list", ""), Reply.recorded("arxiv/empty.xml"))

    with recorded_server(route) as server:
        settings = SourcesSettings(arxiv_api_url=f"{server.url}/api/query", timeout=1,
                                   arxiv_interval=0)
        monkeypatch.setattr(source_settings, "sources_settings", lambda config: settings)
        yield server


def test_online_reports_identifiers_arxiv_does_not_have(project: Project, arxiv_api) -> None:
    _online_pool(project)
    assert _findings(project) == set()  # offline by default: all three are well-formed
    assert arxiv_api.requests == []
    result = CliRunner().invoke(cli, ["check", "--online"])
    assert result.exit_code == 1, result.output
    assert result.output.splitlines()[:4] == [
        "seeds/papers/gone.md:13: error: arXiv has no paper 2411.54321 (link "
        "'https://arxiv.org/abs/2411.54321') [arxiv-not-found]",
        "    fix: check the identifier on the paper's arXiv page, or remove the link",
        "seeds/papers/withdrawn.md:27: error: arXiv 2402.01234 was withdrawn by its authors "
        "(link 'https://arxiv.org/abs/2402.01234v2') [arxiv-withdrawn]",
        "    fix: feature another paper, or link a version that stands"]
    # One request for all identifiers, each without its version.
    [request] = arxiv_api.requests
    assert request.query == {"id_list": "2402.01234,2404.02258,2411.54321", "max_results": "3"}


def test_online_asks_only_about_the_date_checked(project: Project, arxiv_api) -> None:
    _online_pool(project)
    project.add_issue("2025-11-28", ["mod"])
    report = run_check(project.config(), dt.date(2025, 11, 28), online=True)
    assert report.findings == []
    assert [r.query["id_list"] for r in arxiv_api.requests] == ["2404.02258"]


def test_online_without_an_answer_is_one_line(project: Project, arxiv_api) -> None:
    project.add_paper("withdrawn", title="Linear Attention",
                      links={"arXiv": "https://arxiv.org/abs/2402.01234"})
    result = CliRunner().invoke(cli, ["check", "--online"])
    assert result.exit_code == 2
    port = arxiv_api.url.rsplit(":", 1)[1]
    assert result.output == (f"error: arXiv (127.0.0.1:{port}) answered HTTP 503 Service "
                             "Unavailable (try again later)\n")
