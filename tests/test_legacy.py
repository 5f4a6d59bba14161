"""Importing the five legacy plain-text issues: structure, nothing dropped, nothing invented."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from newsletter.config import Config
from newsletter.content.documents import read_document
from newsletter.content.models import Paper, Presentation
from newsletter.content.readers import load_content, parse_issue, parse_paper
from newsletter.content.writers import issue_to_markdown, paper_to_markdown
from newsletter.errors import ContentError
from newsletter.importers.legacy.importer import ImportReport, import_legacy
from newsletter.importers.legacy.parser import parse_legacy
from support.project import LEGACY_SEEDS

SEEDS = LEGACY_SEEDS  # the repository's own copy of the five legacy issues
VENUE_TRACKS = {"NeurIPS": "ml", "OSDI": "systems"}
ORAL, SPOTLIGHT = Presentation.ORAL, Presentation.SPOTLIGHT
ARXIV = "https://arxiv.org/abs/"
USENIX = "https://www.usenix.org/"

# Seed prefix -> issue front matter and the issue-level section titles.
ISSUES = {
    "002": ("2025-10-19", "Research Update - October 19, 2025", "Recent Papers and Discoveries",
            ["dynamoe", "ironraft"], ["Synthesis: What These Papers Tell Us"]),
    "003": ("2025-11-04", "Research Papers Update - November 4, 2025",
            "Recent Research Papers & Scientific Discoveries",
            ["tree-attention", "formal-verification-of-distributed-consensus-with-practical"],
            ["Emerging Trends"]),
    "001": ("2025-11-06", "Research Paper Update - November 6, 2025", None,
            ["mixture-of-depths", "formal-verification-of-neural-network-controllers"],
            ["Additional Context"]),
    "004": ("2025-11-16", "Research Update - November 16, 2025",
            "Recent Research Papers & Discoveries",
            ["attention-is-not-all-you-need", "byzantine-consensus-in-1-rtt"],
            ["What These Papers Mean Together", "Additional Reading"]),
    "000": ("2025-11-28", "Research Update: November 28, 2025", None,
            ["mixture-of-depths-2", "formal-verification-of-distributed-consensus-under-partial"],
            ["Bottom Line"]),
}

WIM, KF = "Why It Matters", "Key Finding"
# slug -> (imported_from, title, headline, authors, affiliations, venue, presentation,
#          published, track, links, section titles)
PAPERS = {
    "dynamoe": (
        "002_6b8ae10c09d6a215.txt:4",
        "DynaMoE: Dynamic Expert Allocation for Efficient Mixture of Experts Inference",
        "Mixture of Experts Efficiency via Dynamic Expert Pruning",
        ["Zhang et al."], ["Stanford University", "Google Research"],
        "NeurIPS 2025", SPOTLIGHT, "2025-10-15", "ml", {"arXiv": ARXIV + "2510.xxxxx"},
        [KF, "Technical Innovation", "Performance Results", WIM]),
    "ironraft": (
        "002_6b8ae10c09d6a215.txt:34",
        "IronRaft: Machine-Checked Proofs for Production Consensus Systems",
        "Formal Verification of Distributed Consensus Protocols Using Automated Theorem Proving",
        ["Chen", "Patel", "Hawblitzel"], ["Microsoft Research", "CMU"],
        "OSDI 2025", None, "2025-10-16", "systems",
        {"Paper": USENIX + "conference/osdi25/presentation/chen-ironraft"},
        [KF, "Technical Innovation", "Proven Properties", "Comparison with Existing Approaches",
         WIM, "Broader Implications"]),
    "tree-attention": (
        "003_4f63bc87777602a5.txt:3",
        "Tree Attention: Topology-Aware Decoding for Long-Context LLMs", None,
        ["Chen et al."], ["Stanford University", "Google Research"],
        "NeurIPS 2025", SPOTLIGHT, "2025-10-28", "ml", {"arXiv": ARXIV + "2025.12345"},
        [KF, "How It Works", "Results", WIM]),
    "formal-verification-of-distributed-consensus-with-practical": (
        "003_4f63bc87777602a5.txt:28",
        "Formal Verification of Distributed Consensus with Practical Performance", None,
        ["Martinez", "Liu", "Johnson"], ["MIT CSAIL", "Protocol Labs"],
        "OSDI 2025", None, "2025-11-01", "systems",
        {"Paper": "https://usenix.org/conference/osdi25/ironsync"},
        [KF, "Technical Approach", "Performance Results", WIM]),
    "mixture-of-depths": (
        "001_a9aec06f9e16d86e.txt:5",
        "Mixture-of-Depths: Dynamic Compute Allocation in Transformer Models", None,
        ["David Zhou", "Emma Torres", "Raj Patel"], ["Google DeepMind"],
        "NeurIPS 2025", SPOTLIGHT, "2025-10-28", "ml", {"arXiv": ARXIV + "2510.xxxxx"},
        [KF, "Results", WIM, "Practical Implications"]),
    "formal-verification-of-neural-network-controllers": (
        "001_a9aec06f9e16d86e.txt:31",
        "Formal Verification of Neural Network Controllers for Distributed Systems", None,
        ["Lisa Chen", "Marcus Johnson", "Yuki Tanaka"], ["MIT CSAIL", "CMU"],
        "OSDI 2025", None, "2025-10-30", "systems",
        {"Paper": USENIX + "conference/osdi25/presentation/chen-verifynet"},
        [KF, "Key Contributions", WIM, "Practical Implications"]),
    "attention-is-not-all-you-need": (
        "004_35e33cfeec2895de.txt:7",
        "Attention Is Not All You Need: Hybrid Architectures for Long-Context LLMs", None,
        ["Chen, L.", "Park, S.", "Kumar, R.", "et al."], [],
        "NeurIPS 2025", ORAL, "2025-11-05", "ml", {"arXiv": ARXIV + "2025.11234"}, [KF, WIM]),
    "byzantine-consensus-in-1-rtt": (
        "004_35e33cfeec2895de.txt:28",
        "Byzantine Consensus in 1 RTT: Breaking the 2-Phase Barrier", None,
        ["Nakamura, T.", "Reeves, M.", "Zhang, Y."], [],
        "OSDI 2025", None, "2025-11-12", "systems", {"arXiv": ARXIV + "2025.11421"}, [KF, WIM]),
    "mixture-of-depths-2": (
        "000_7c6f718433cdac7d.txt:3",
        "Mixture of Depths - Conditional Computation in Transformers", None,
        ["David Raposo", "Sam Ritter", "Blake Richards", "Timothy Lillicrap", "Peter Battaglia",
         "Razvan Pascanu"], ["Google DeepMind"],
        "NeurIPS 2025", ORAL, "2025-11", "ml", {"arXiv": ARXIV + "2411.12345"},
        [KF, WIM, "Practical Applications"]),
    "formal-verification-of-distributed-consensus-under-partial": (
        "000_7c6f718433cdac7d.txt:27",
        "Formal Verification of Distributed Consensus Under Partial Synchrony", None,
        ["James R. Wilcox", "Doug Woos", "Pavel Panchekha", "Zachary Tatlock", "Xi Wang",
         "Michael D. Ernst", "Thomas Anderson"], ["University of Washington", "CMU"],
        "OSDI 2025", None, "2025-11", "systems",
        {"Paper": USENIX + "osdi2025/distributed-consensus-verification"},
        [KF, WIM, "Practical Applications"]),
}

TAKEAWAYS = {
    "tree-attention": "Introduces a novel attention mechanism that represents long contexts as "
                      "hierarchical trees rather than flat sequences, achieving 10x reduction in "
                      "memory usage and 3x faster inference for contexts over 100K tokens while "
                      "maintaining accuracy.",
    "mixture-of-depths-2": "The paper introduces “Mixture of Depths” (MoD), a novel architecture "
                           "that allows transformer models to dynamically allocate computational "
                           "resources based on input complexity.",
    "attention-is-not-all-you-need": "Researchers from Stanford and Google DeepMind demonstrate "
                                     "that pure attention-based transformers are fundamentally "
                                     "inefficient for contexts beyond 100K tokens.",
}

# In import order (earliest issue first), each file's by line.
WARNINGS = [
    ("002", 33, "link-note", "link note '(arXiv preprint available)' not kept"),
    ("002", 73, "missing-list",
     "lead-in 'Both papers represent a maturation of their respective fields:' "
     "has no list after it"),
    ("003", 27, "link-note", "link note '(arXiv preprint)' not kept"),
    ("001", 27, "empty-section", "section 'Practical Implications' is empty"),
    ("001", 29, "link-note", "link note '(NeurIPS 2025)' not kept"),
    ("001", 61, "missing-list",
     "lead-in '…networks more compatible with production engineering requirements:' "
     "has no list after it"),
    ("004", 9, "empty-field", "no affiliations on the Authors line; 'affiliations' is empty"),
    ("004", 16, "missing-list",
     "lead-in '…with state space models (SSMs) that achieves:' has no list after it"),
    ("004", 22, "missing-list",
     "lead-in '…implications for Staff Engineers building LLM-powered applications:' "
     "has no list after it"),
    ("004", 30, "empty-field", "no affiliations on the Authors line; 'affiliations' is empty"),
    ("004", 37, "missing-list", "lead-in 'The protocol achieves:' has no list after it"),
    ("004", 43, "missing-list",
     "lead-in 'This research has profound implications for distributed systems at scale:' "
     "has no list after it"),
    ("004", 61, "empty-section", "subsection 'Related Work' is empty"),
    ("004", 63, "empty-section", "subsection 'Implementation Resources' is empty"),
]

METADATA = re.compile(r"^(Title|Authors?|Venue|Published|Date|arXiv|Link|Paper Link)\s*:|"
                      r"^Paper \d+:|^\d+\. ")


def seed_paths() -> list[Path]:
    paths = sorted(SEEDS.glob("*.txt"))
    if len(paths) != 5:
        pytest.fail(f"expected the five legacy seeds in {SEEDS}, found {len(paths)}")
    return paths


def seed(prefix: str) -> Path:
    return next(path for path in seed_paths() if path.name.startswith(prefix))


def config_for(root: Path, **kwargs) -> Config:
    return Config(root=root, **({"venue_tracks": VENUE_TRACKS} | kwargs))


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, ImportReport]:
    root = tmp_path_factory.mktemp("project")
    config = config_for(root)
    return config, import_legacy(seed_paths(), config)


def load_paper(config: Config, slug: str) -> Paper:
    return parse_paper(read_document(config.papers_dir / f"{slug}.md"))


def issue_corpus(config: Config, prefix: str) -> str:
    """Every file written for one seed: the issue and its papers."""
    date, _, _, slugs, _ = ISSUES[prefix]
    paths = [config.issues_dir / f"{date}.md"] + [config.papers_dir / f"{s}.md" for s in slugs]
    return "\n".join(path.read_text(encoding="utf-8") for path in paths)


def content_lines(path: Path) -> list[str]:
    """Seed lines that are text, not the title, a repeated title, a paper header or metadata."""
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line]
    title = re.sub(r"[^a-z0-9]", "", lines[0].lower())
    return [line for line in lines[1:]
            if not METADATA.match(line) and re.sub(r"[^a-z0-9]", "", line.lower()) != title]


def words(text: str) -> str:
    return " " + " ".join(re.findall(r"[^\W_]+", text.casefold())) + " "


def test_files_written_in_issue_date_order(imported: tuple[Config, ImportReport]) -> None:
    config, report = imported
    assert [p.name for p in report.issues] == [f"{v[0]}.md" for v in ISSUES.values()]
    assert [p.stem for p in report.papers] == [s for v in ISSUES.values() for s in v[3]]
    assert sorted(p.name for p in config.papers_dir.iterdir()) == sorted(f"{s}.md" for s in PAPERS)
    assert sorted(p.name for p in config.issues_dir.iterdir()) == sorted(
        f"{v[0]}.md" for v in ISSUES.values())


@pytest.mark.parametrize("prefix", list(ISSUES))
def test_issue_front_matter_and_sections(imported: tuple[Config, ImportReport],
                                         prefix: str) -> None:
    config, _ = imported
    date, subject, papers_heading, slugs, sections = ISSUES[prefix]
    path = config.issues_dir / f"{date}.md"
    issue = parse_issue(read_document(path))
    assert issue.date == dt.date.fromisoformat(date)
    assert issue.subject == subject
    assert issue.status == "sent"
    assert issue.papers_heading == papers_heading
    assert issue.papers == slugs
    assert issue.imported_from == seed(prefix).name
    assert issue.intro == ""
    assert [s.title for s in issue.sections] == sections
    assert issue_to_markdown(issue) == path.read_text(encoding="utf-8")  # round trip


@pytest.mark.parametrize("slug", list(PAPERS))
def test_paper_fields(imported: tuple[Config, ImportReport], slug: str) -> None:
    config, _ = imported
    (source, title, headline, authors, affiliations, venue, presentation, published, track,
     links, sections) = PAPERS[slug]
    paper = load_paper(config, slug)
    assert paper.slug == slug
    assert paper.imported_from == source
    assert paper.title == title
    assert paper.headline == headline
    assert paper.authors == authors
    assert paper.affiliations == affiliations
    assert paper.venue == venue
    assert paper.presentation == presentation
    assert paper.published.iso() == published
    assert paper.track == track
    assert paper.links == links
    assert [s.title for s in paper.sections] == sections
    assert "\n" not in paper.takeaway
    assert paper.section(KF).markdown.startswith(paper.takeaway)
    if slug in TAKEAWAYS:
        assert paper.takeaway == TAKEAWAYS[slug]
    text = (config.papers_dir / f"{slug}.md").read_text(encoding="utf-8")
    assert paper_to_markdown(paper) == text  # round trip


@pytest.mark.parametrize("prefix", list(ISSUES))
def test_authors_lines_lose_no_name(imported: tuple[Config, ImportReport], prefix: str) -> None:
    config, _ = imported
    authors_lines = [line for line in seed(prefix).read_text(encoding="utf-8").splitlines()
                     if line.startswith("Authors:")]
    for line, slug in zip(authors_lines, ISSUES[prefix][3], strict=True):
        paper = load_paper(config, slug)
        kept = words(" ".join(paper.authors + paper.affiliations))
        names = words(line.removeprefix("Authors:")).split()
        assert all(f" {word} " in kept for word in names if word != "and")


@pytest.mark.parametrize("prefix", list(ISSUES))
def test_every_content_line_is_kept(imported: tuple[Config, ImportReport], prefix: str) -> None:
    config, _ = imported
    corpus = issue_corpus(config, prefix)
    plain = corpus.replace("**", "")
    assert "\\" not in corpus  # nothing in the seeds needed escaping
    checked = 0
    for line in content_lines(seed(prefix)):
        assert words(line.replace("Key Findings", "Key Finding")) in words(corpus), line
        text = line.removeprefix("- ")
        if len(text.split()) <= 6:  # a heading: canonical name, capitalised, colon dropped
            assert text.removesuffix(":").casefold().removesuffix("s") in plain.casefold(), line
        elif re.match(r"For [^:,]+: ", text):  # inline audience: '### For X' + paragraph
            label, rest = text.split(": ", 1)
            assert f"### {label}\n\n{rest}\n" in plain, line
        else:
            assert text.removesuffix(":") in plain, line
        checked += 1
    # Non-empty lines minus the title, repeated title, paper headers and metadata lines.
    assert checked == {"000": 42, "001": 22, "002": 67, "003": 50, "004": 23}[prefix]


@pytest.mark.parametrize("prefix", list(ISSUES))
def test_nothing_is_invented(imported: tuple[Config, ImportReport], prefix: str) -> None:
    """Every line of every written body comes from the seed (headings up to case)."""
    config, _ = imported
    source = seed(prefix).read_text(encoding="utf-8").casefold()
    for block in issue_corpus(config, prefix).split("\n---\n")[1::2]:
        for line in block.splitlines():
            text = re.sub(r"^(#+ |- )", "", line).replace("**", "").strip()
            if text:
                assert text.casefold().removesuffix(":") in source.replace("key findings",
                                                                           "key finding"), line


@pytest.mark.parametrize("prefix", list(ISSUES))
def test_bullets_and_figures_are_list_items(imported: tuple[Config, ImportReport],
                                            prefix: str) -> None:
    config, _ = imported
    corpus = issue_corpus(config, prefix).replace("**", "")
    bullets = [line[2:] for line in content_lines(seed(prefix)) if line.startswith("- ")]
    for bullet in bullets:
        assert f"\n- {bullet}\n" in corpus + "\n", bullet
    figures = [line for line in content_lines(seed(prefix)) if re.search(r"\d", line)]
    assert all(words(line) in words(corpus) for line in figures)


def test_markdown_structure(imported: tuple[Config, ImportReport]) -> None:
    config, _ = imported
    why = load_paper(config, "mixture-of-depths-2").section(WIM).markdown
    assert "\n\n### For Staff Engineers and technical leaders\n\n- **Inference cost reduction:** " \
           "Production LLM deployments" in why
    assert why.count("\n- **") == 4
    key = load_paper(config, "mixture-of-depths-2").section(KF).markdown
    assert "MoD achieved:\n\n- 2.5x faster inference with equivalent quality\n- 40% " in key
    why = load_paper(config, "mixture-of-depths").section(WIM).markdown
    assert why.startswith("### For ML practitioners\n\nMoD provides a path")
    assert [line for line in why.splitlines() if line.startswith("###")] == [
        "### For ML practitioners", "### For systems engineers", "### For technical leaders"]
    apps = load_paper(config, "formal-verification-of-distributed-consensus-under-partial")
    assert apps.section("Practical Applications").markdown.endswith(
        "\n\n**Critical insight:** One of the discovered bugs relates to log compaction during "
        "network partitions—a scenario that becomes more likely as systems scale and partial "
        "network failures become common. Organizations running large-scale Raft deployments "
        "should review the paper’s findings.")
    why = load_paper(config, "formal-verification-of-distributed-consensus-with-practical")
    assert "### Practical implications for engineering leaders\n\n- **Verification becomes" \
        in why.section(WIM).markdown
    why = load_paper(config, "tree-attention").section(WIM).markdown
    assert "###" not in why
    assert "For Staff Engineers building AI-powered applications:\n\n- **Economics shift:**" in why
    byz = load_paper(config, "byzantine-consensus-in-1-rtt").section(WIM).markdown
    assert "\n\n**Trade-off:** The protocol requires" in byz
    assert ">99.9% of the time" in load_paper(config, "byzantine-consensus-in-1-rtt").section(
        KF).markdown
    assert load_paper(config, "mixture-of-depths").section("Practical Implications").is_empty
    issue = parse_issue(read_document(config.issues_dir / "2025-11-16.md"))
    assert issue.section("Additional Reading").markdown == (
        "### Related Work\n\n### Implementation Resources")


def test_rendered_html_keeps_the_blocks(imported: tuple[Config, ImportReport]) -> None:
    config, _ = imported
    paper = load_paper(config, "byzantine-consensus-in-1-rtt")
    tokens = MarkdownIt("commonmark").parse("\n\n".join(s.markdown for s in paper.sections))
    kinds = [t.type for t in tokens if t.type.endswith("_open")]
    assert "blockquote_open" not in kinds and "bullet_list_open" not in kinds
    assert kinds.count("paragraph_open") == 6


def test_exact_warnings(imported: tuple[Config, ImportReport]) -> None:
    _, report = imported
    assert len(report.warnings) == len(WARNINGS) == 14
    got = [(w.path.name[:3], w.line, w.code, w.message) for w in report.warnings]
    assert got == WARNINGS
    assert {w.severity for w in report.warnings} == {"warning"}
    assert all(w.path == seed(w.path.name[:3]) and w.hint for w in report.warnings)


def test_parse_legacy_is_the_written_content(imported: tuple[Config, ImportReport]) -> None:
    config, _ = imported
    legacy = parse_legacy(seed("000").read_text(encoding="utf-8"), seed("000"), VENUE_TRACKS)
    assert legacy.issue.date == dt.date(2025, 11, 28)
    assert legacy.warnings == []
    # Alone, seed 000 gets the plain slug; the import makes it "-2" (001 is earlier).
    assert [p.slug for p in legacy.papers] == [
        "mixture-of-depths", "formal-verification-of-distributed-consensus-under-partial"]
    for parsed, slug in zip(legacy.papers, ISSUES["000"][3], strict=True):
        loaded = load_paper(config, slug)
        assert parsed.model_dump(exclude={"slug", "sections"}) == loaded.model_dump(
            exclude={"slug", "sections"})
        assert [(s.title, s.markdown) for s in parsed.sections] == [
            (s.title, s.markdown) for s in loaded.sections]
    # Section lines point into the legacy file.
    assert [s.line for s in legacy.papers[0].sections] == [8, 15, 22]
    assert [s.line for s in legacy.issue.sections] == [52]


def test_reimport_is_byte_identical(tmp_path: Path) -> None:
    config = config_for(tmp_path)
    first = import_legacy(seed_paths(), config)
    before = snapshot(tmp_path)
    second = import_legacy(list(reversed(seed_paths())), config)
    assert snapshot(tmp_path) == before
    assert second == first


def test_archive_copies_are_byte_identical(imported: tuple[Config, ImportReport]) -> None:
    config, report = imported
    assert sorted(p.name for p in config.archive_dir.iterdir()) == [p.name for p in seed_paths()]
    for path in seed_paths():
        assert (config.archive_dir / path.name).read_bytes() == path.read_bytes()
    assert len(report.archived) == 5


def test_unknown_venue_goes_to_unsorted_with_a_warning(tmp_path: Path) -> None:
    report = import_legacy([seed("000")], Config(root=tmp_path))
    assert [load_paper(Config(root=tmp_path), p.stem).track for p in report.papers] == [
        "unsorted", "unsorted"]
    tracks = [(w.line, w.message) for w in report.warnings if w.code == "unknown-track"]
    assert tracks == [
        (5, "venue 'NeurIPS 2025' has no track in [venue_tracks]; track set to 'unsorted'"),
        (29, "venue 'OSDI 2025' has no track in [venue_tracks]; track set to 'unsorted'")]


def test_hand_written_paper_keeps_its_slug(tmp_path: Path) -> None:
    config = config_for(tmp_path)
    mine = config.papers_dir / "dynamoe.md"
    mine.parent.mkdir(parents=True)
    mine.write_text("hand-written\n", encoding="utf-8")
    report = import_legacy([seed("002")], config)
    assert [p.stem for p in report.papers] == ["dynamoe-2", "ironraft"]
    assert mine.read_text(encoding="utf-8") == "hand-written\n"
    # A second import (and one alongside other files) finds its own files again.
    assert import_legacy(seed_paths(), config).papers[:2] == report.papers


def test_existing_issue_is_not_overwritten(tmp_path: Path) -> None:
    config = config_for(tmp_path)
    issue = config.issues_dir / "2025-10-19.md"
    issue.parent.mkdir(parents=True)
    issue.write_text("---\ndate: 2025-10-19\npapers: [x]\n---\n", encoding="utf-8")
    with pytest.raises(ContentError, match="would overwrite") as err:
        import_legacy(seed_paths(), config)
    assert err.value.path == seed("002")
    assert snapshot(tmp_path) == {"seeds/issues/2025-10-19.md": issue.read_bytes()}


@pytest.mark.parametrize(("text", "line", "message"), [
    ("", 1, "is empty"),
    ("\n\nResearch Update\nPaper 1: X\nAuthors: A\n", 3, "no date in the title line"),
    ("Research Update: November 31, 2025\n", 1, "is not a date"),
    ("Research Update: November 28, 2025\nKey Finding\nText.\n", 1, "no paper found"),
    ("Research Update: November 28, 2025\nPaper 1: X\nAuthors: A (B)\nPublished: November 2025"
     "\nKey Finding\nIt works.\nWhy It Matters\nIt does.\n", 2, "has no 'Venue:' line"),
    ("Research Update: November 28, 2025\nPaper 1: X\nAuthors: A (B)\nVenue: OSDI 2025\n"
     "Published: soon\nKey Finding\nIt works.\nWhy It Matters\nIt does.\n", 5,
     "'soon' is not a publication date"),
    ("Research Update: November 28, 2025\nPaper 1: X\nAuthors: A (B)\nVenue: OSDI 2025\n"
     "Published: November 2025\nKey Finding\nIt works.\n", 2, "has no 'Why It Matters' section"),
    ("Research Update: November 28, 2025\nPaper 1: X\nAuthors: A (B)\nVenue: OSDI 2025\n"
     "Venue: SOSP 2025\n", 5, "a second 'Venue:' line"),
])
def test_unparseable_document_raises_and_writes_nothing(tmp_path: Path, text: str, line: int,
                                                        message: str) -> None:
    bad = tmp_path / "in" / "bad.txt"
    bad.parent.mkdir()
    bad.write_text(text, encoding="utf-8")
    root = tmp_path / "project"
    with pytest.raises(ContentError, match=re.escape(message)) as err:
        import_legacy([seed("000"), bad], config_for(root))
    assert (err.value.path, err.value.line) == (bad, line)
    assert err.value.hint
    assert "\n" not in str(err.value)
    assert not root.exists()


def test_markdown_characters_keep_their_meaning(tmp_path: Path) -> None:
    odd = ["# not a heading", "> not a quote", "1. not a list", "+ not a bullet either",
           "*stars* and _under_ and `ticks` and <b>tags</b> and [brackets](x) and &amp; and \\",
           "=== not an underline", "~~~ not a fence"]
    text = ("Research Update: November 28, 2025\nPaper 1: Odd: Text\nAuthors: A (B)\n"
            "Venue: ICML 2025 (Poster)\nPublished: 2025-10\nLink: https://example.org/a\n"
            "Key Finding\n" + "\n".join(odd) + "\nWhy It Matters\n- # bullet hash\n")
    legacy = parse_legacy(text, tmp_path / "odd.txt", {"ICML": "ml"})
    paper = legacy.papers[0]
    assert (paper.slug, paper.presentation, paper.links) == (
        "odd", Presentation.POSTER, {"Paper": "https://example.org/a"})
    assert paper.takeaway == odd[0]
    body = "\n\n".join(s.markdown for s in paper.sections)
    tokens = MarkdownIt("commonmark").parse(body)
    assert {t.type for t in tokens if t.type.endswith("_open")} == {
        "paragraph_open", "bullet_list_open", "list_item_open"}
    rendered = [t.children for t in tokens if t.type == "inline"]
    plain = ["".join(c.content for c in children if c.type in ("text", "softbreak"))
             for children in rendered]
    assert plain == [*odd, "# bullet hash"]
    assert [w.code for w in legacy.warnings] == []


def test_crlf_and_byte_order_mark_import_the_same(tmp_path: Path) -> None:
    windows = tmp_path / "in" / seed("004").name
    windows.parent.mkdir()
    windows.write_bytes(b"\xef\xbb\xbf" + seed("004").read_bytes().replace(b"\n", b"\r\n"))
    config = config_for(tmp_path / "project")
    report = import_legacy([windows], config)
    assert [(w.line, w.message) for w in report.warnings] == [
        (line, message) for prefix, line, _, message in WARNINGS if prefix == "004"]
    assert (config.archive_dir / windows.name).read_bytes() == windows.read_bytes()
    expected = parse_legacy(seed("004").read_text(encoding="utf-8"), seed("004"), VENUE_TRACKS)
    for slug, paper in zip(ISSUES["004"][3], expected.papers, strict=True):
        assert load_paper(config, slug).model_dump(exclude={"sections"}) == paper.model_dump(
            exclude={"sections"})


def test_imported_content_loads_as_a_whole(imported: tuple[Config, ImportReport]) -> None:
    config, _ = imported
    content = load_content(config.resolve(config.content_dir))
    assert sorted(content.papers) == sorted(PAPERS)
    assert [d.isoformat() for d in sorted(content.issues)] == sorted(v[0] for v in ISSUES.values())


def test_not_utf8_is_a_content_error(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("Research Update: November 28, 2025 – café".encode("latin-1", "replace"))
    with pytest.raises(ContentError, match="is not UTF-8 text") as err:
        import_legacy([bad], config_for(tmp_path))
    assert err.value.path == bad


def test_abbreviated_month_in_the_title() -> None:
    text = seed("003").read_text(encoding="utf-8").replace("November 4, 2025", "Nov. 4, 2025", 1)
    legacy = parse_legacy(text, seed("003"), VENUE_TRACKS)
    assert legacy.issue.date == dt.date(2025, 11, 4)
    assert legacy.issue.subject == "Research Papers Update - Nov. 4, 2025"
