"""Research content in both parts: tables, formulas, footnotes, figures, the reader's summary,
citation data, and what `check` says about formulas and figures.

Most tests read tests/fixtures/research/ composed once (its golden files are in
tests/golden/research/); the edge cases build small projects of their own.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import zlib
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.content.documents import read_document
from newsletter.content.models import Paper
from newsletter.lint.render_rules import MAX_FIGURE_BYTES, render_rules
from newsletter.render.citation import bibtex, csl_json, split_name
from newsletter.render.figures import image_size, is_local_figure
from newsletter.render.greeting import greeting
from newsletter.render.latex import convert
from support.project import REPO, Project, paper_text

RESEARCH = Path(__file__).parent / "fixtures" / "research"
DATE = "2025-12-05"
FIGURE_URL = "https://news.example.org/issues/2025-12-05/fig1.png"


def png(width: int, height: int, padding: int = 0) -> bytes:
    """A valid grey PNG of that size (`padding` bytes of ancillary chunk make it heavy)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    extra = chunk(b"tEXt", b"c\x00" + b"x" * padding) if padding else b""
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0,
                                                               0, 0, 0))
            + extra + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def compose(root: Path, date: str = DATE) -> CliRunner:
    result = CliRunner().invoke(cli, ["--config", str(root / "newsletter.toml"), "compose",
                                      "--date", date])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def outbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("research")
    shutil.copytree(RESEARCH / "seeds", root / "seeds")
    shutil.copytree(REPO / "templates", root / "templates")
    shutil.copy(RESEARCH / "newsletter.toml", root)
    compose(root)
    return root / "outbox" / DATE


@pytest.fixture(scope="module")
def soup(outbox: Path) -> BeautifulSoup:
    return BeautifulSoup((outbox / "issue.html").read_text(), "html.parser")


@pytest.fixture(scope="module")
def text(outbox: Path) -> str:
    return (outbox / "issue.txt").read_text()


def _refs(text: str) -> dict[str, str]:
    """URL -> its reference number in the Links list of the text part."""
    return {match[2]: match[1] for match in re.finditer(r"^\[(\d+)\] (\S+)$", text, re.M)}


# Tables


def test_a_table_is_a_real_table_that_scrolls_inside_the_column(soup: BeautifulSoup) -> None:
    frame = soup.find("table", class_="nl-table-frame")
    assert frame["role"] == "presentation" and "table-layout: fixed" in frame["style"]
    scroller = frame.find("div", class_="nl-table")
    assert "overflow-x: auto" in scroller["style"]
    table = scroller.find("table")
    assert table.caption.get_text(strip=True) == "Inference on one A100 GPU, batch size 1."
    headers = table.thead.find_all("th")
    assert [th.get_text(strip=True) for th in headers] == [
        "Model", "Context", "Speedup", "Quality (Δ perplexity)"]
    assert {th["scope"] for th in headers} == {"col"}
    assert "text-align: right" in headers[2]["style"]
    rows = [[td.get_text(strip=True) for td in tr.find_all("td")] for tr in table.tbody("tr")]
    assert rows[1] == ["Block-sparse", "128K", "2.7x", "+0.02"]
    assert "| Model |" not in soup.get_text() and "Table:" not in soup.get_text()


def test_a_table_in_the_text_part_has_aligned_columns(text: str) -> None:
    lines = text.splitlines()
    top = lines.index("Table: Inference on one A100 GPU, batch size 1.")
    header, rule, *rows = lines[top + 2 : top + 7]
    assert header.split() == ["Model", "Context", "Speedup", "Quality", "(Δ", "perplexity)"]
    assert set(rule.replace(" ", "")) == {"-"}
    assert rows[1].startswith("Block-sparse ") and rows[1].split()[-3:] == ["128K", "2.7x",
                                                                           "+0.02"]
    # Right-aligned columns end where their header ends; a rule under each column.
    speedup_end = header.index("Speedup") + len("Speedup")
    assert all(row[speedup_end - 4 : speedup_end] in ("1.0x", "2.7x", "3.1x") for row in rows)
    assert [len(part) for part in rule.split()] == [20, 7, 7, 22]
    assert "|" not in text


def test_a_table_too_wide_for_text_becomes_one_block_per_row(text: str) -> None:
    start = text.index("Deployment: One region")
    block = text[start : text.index("\n\n", start)].splitlines()
    assert block == ["Deployment: One region", "Replicas: 5", "p50 latency: 0.9 ms",
                     "p99 latency: 2.1 ms", "Throughput: 410K ops/s",
                     "Configuration: three zones, 10 GbE, batching on"]
    assert "Deployment: Three regions" in text
    assert all(len(line) <= 72 for line in text.splitlines())


# Formulas


def test_formulas_are_unicode_text_in_both_parts(soup: BeautifulSoup, text: str) -> None:
    inline = [span.get_text() for span in soup.find_all("span", class_="nl-math")]
    assert "softmax(xᵢ) = e^(xᵢ − ϕ)" in inline and "ϕ = maxⱼ xⱼ" in inline
    display = [p.get_text() for p in soup.find_all("p", class_="nl-math")]
    assert display == ["O(n²d) → O(n√n · d)"]
    flat = " ".join(text.split())
    assert "softmax(xᵢ) = e^(xᵢ − ϕ) with ϕ = maxⱼ xⱼ.[^1]" in flat
    assert "\n    O(n²d) → O(n√n · d)\n" in text
    for part in (soup.get_text(), text):
        assert "\\mathrm" not in part and "\\phi" not in part and "$" not in part


def test_a_formula_text_cannot_show_keeps_its_source_visible(soup: BeautifulSoup,
                                                              text: str) -> None:
    kept = soup.find("pre", class_="nl-math-source")
    assert kept.code.get_text() == r"\sum_{i=1}^{n} w_i \le C"
    assert "\n    \\sum_{i=1}^{n} w_i \\le C\n" in text


@pytest.mark.parametrize("source,shown", [
    (r"\mathrm{softmax}(x_i) = e^{x_i - \phi}", "softmax(xᵢ) = e^(xᵢ − ϕ)"),
    (r"x^2 + y^{10} \leq 10^{-3}", "x² + y¹⁰ ≤ 10⁻³"),
    (r"\alpha \cdot \beta \neq \gamma", "α · β ≠ γ"),
    (r"O(n \log n)", "O(n log n)"),
    (r"\frac{a}{b} + \frac{x+1}{2}", "a/b + (x + 1)/2"),
    (r"\sqrt{x^2 + 1}", "√(x² + 1)"),
    (r"W \in \mathbb{R}^{d \times k}", "W ∈ ℝ^(d × k)"),
    (r"\hat{y} = \operatorname{argmax}_k p(k \mid x)", "ŷ = argmaxₖ p(k | x)"),
    (r"\mathcal{O}(1), \hbar\omega", "𝒪(1), ℏω"),
    (r"\left( -x \right)", "(−x)"),
    (r"x_{\text{max}}", "xₘₐₓ"),
    (r"1.8\,\mathrm{ms}", "1.8 ms"),
    (r"\sum x", "∑ x"),
    (r"\beth + \lozenge", "ℶ + ◊"),  # symbols beyond our table: pylatexenc's
])
def test_formulas_that_text_shows_faithfully(source: str, shown: str) -> None:
    formula = convert(source)
    assert formula.faithful, formula.problem
    assert formula.text == shown


@pytest.mark.parametrize("source,why", [
    (r"\sum_{i=1}^{n} x_i", "limits on ∑"),
    (r"\lim_{x \to 0} f(x)", "limits on lim"),
    (r"\frac{\frac{a}{b}}{c}", "a fraction holding another fraction"),
    (r"\begin{pmatrix} 1 & 0 \\ 0 & 1 \end{pmatrix}", "the environment 'pmatrix'"),
    (r"a \\ b", "a line break"),
    (r"\foo{x}", "the command '\\foo' has no plain-text form"),
    (r"x^{2", "a '{' without its '}'"),
    (r"\sqrt[5]{x}", "a root of degree 5"),
])
def test_formulas_that_text_cannot_show_say_why(source: str, why: str) -> None:
    formula = convert(source)
    assert not formula.faithful and formula.text == source.strip()
    assert formula.problem is not None and formula.problem.startswith(why)


# Footnotes


def test_footnotes_are_numbered_links_listed_at_the_end_of_the_paper(
        soup: BeautifulSoup) -> None:
    refs = soup.find_all("sup", class_="nl-note-ref")
    assert [(sup.a["href"], sup.a.get("id"), sup.a["aria-label"], sup.a.get_text())
            for sup in refs] == [("#nl-note-1", "nl-note-ref-1", "Note 1", "[1]"),
                                 ("#nl-note-2", "nl-note-ref-2", "Note 2", "[2]")]
    notes = soup.find("ol", class_="nl-notes")
    assert notes["start"] == "1"
    assert [li["id"] for li in notes.find_all("li")] == ["nl-note-1", "nl-note-2"]
    first = notes.li
    assert first.get_text(" ", strip=True).startswith("Subtracting ϕ changes nothing")
    assert first.find("a", string="kernel notes")["href"].endswith("/KERNELS.md")
    assert first.find("a", class_="nl-note-back")["href"] == "#nl-note-ref-1"
    # At the end of the paper's section: after its last section, before its buttons.
    heading = notes.find_previous("h3")
    assert heading.get_text() == "Notes" and notes.find_previous("h2").get_text(
        strip=True).startswith("Block-Sparse Attention")
    assert notes.find_next("a", target="_blank").get_text(strip=True).startswith("Read on arXiv")
    assert notes.find_next("h2").get_text(strip=True) == "Leaderless Log Replication, Verified"
    assert "[^" not in soup.get_text()


def test_footnotes_in_the_text_part(text: str) -> None:
    assert "Memory: the KV cache is read block by block, never whole.[^2]" in " ".join(
        text.split())
    notes = text[text.index("Notes\n-----\n") : text.index("\n\n\n2. Leaderless")]
    refs = _refs(text)
    number = refs["https://github.com/research-update/block-sparse/blob/main/KERNELS.md"]
    assert notes.splitlines()[3:6] == [
        "[^1] Subtracting ϕ changes nothing mathematically but keeps eˣ from",
        f"     overflowing in float16; the kernel notes [{number}] derive it.",
        "[^2] Only the blocks the mask keeps are read from memory."]


def test_notes_run_on_across_papers_and_issue_text(project: Project) -> None:
    body = ("## Key Finding\n\nFast.[^a] Also [^missing].\n\n## Why It Matters\n\n"
            "Cheap.[^b]\n\n[^a]: First.\n[^b]: Second.\n")
    project.add_paper("one", body=body)
    project.add_paper("two", title="Two", links={"Paper": "https://www.usenix.org/two"},
                      body="## Key Finding\n\nSlow.[^a]\n\n## Why It Matters\n\nNo.\n\n"
                           "[^a]: Third.\n")
    project.add_issue(DATE, ["one", "two"], body="## Bottom Line\n\nRead both.[^n]\n\n"
                                                 "[^n]: Fourth.\n")
    compose(project.root)
    folder = project.root / "outbox" / DATE
    soup = BeautifulSoup((folder / "issue.html").read_text(), "html.parser")
    items = [(li["id"], li.get_text(" ", strip=True).removesuffix(" ↩︎"))
             for li in soup.select("ol.nl-notes li")]
    assert items == [("nl-note-1", "First."), ("nl-note-2", "Second."),
                     ("nl-note-3", "Third."), ("nl-note-4", "Fourth.")]
    assert "Also [^missing]." in soup.get_text()
    text = (folder / "issue.txt").read_text()
    assert "Fast.[^1] Also [^missing]." in text and "Slow.[^3]" in text
    assert text.index("[^4] Fourth.") > text.index("Read both.[^4]")


def test_dollar_amounts_are_not_formulas(project: Project) -> None:
    project.add_paper("one", body="## Key Finding\n\nIt costs $5 and $10 a month.\n\n"
                                  "## Why It Matters\n\nMoney.\n")
    project.add_issue(DATE, ["one"])
    compose(project.root)
    assert "It costs $5 and $10 a month." in (project.root / "outbox" / DATE /
                                              "issue.txt").read_text()


# Figures


def test_a_local_figure_is_published_and_shown_from_its_address(
        outbox: Path, soup: BeautifulSoup, text: str) -> None:
    image = soup.find("img")
    assert image["src"] == FIGURE_URL
    assert image["alt"].startswith("Throughput against context length")
    assert image["width"] == "536"  # the figure is 640 px: the 536 px text column
    assert "max-width: 100%" in image["style"] and "height: auto" in image["style"]
    assert (outbox / "fig1.png").read_bytes() == (RESEARCH / "seeds/papers/fig1.png").read_bytes()
    assert json.loads((outbox / "issue.json").read_text())["figures"] == ["fig1.png"]
    number = _refs(text)[FIGURE_URL]
    assert f"block-sparse attention stays nearly flat] [{number}]" in " ".join(text.split())


def _figure_project(project: Project, name: str, data: bytes | None,
                    markdown: str | None = None) -> Path:
    if data is not None:
        (project.root / "seeds" / "papers" / name).write_bytes(data)
    paper = project.add_paper("fig", body="## Key Finding\n\nSee it.\n\n"
                              f"{markdown or f'![A chart]({name})'}\n\n"
                              "## Why It Matters\n\nIt shows.\n")
    project.add_issue(DATE, ["fig"])
    return paper


def test_a_narrow_figure_keeps_its_own_width(project: Project) -> None:
    _figure_project(project, "small.png", png(300, 40))
    compose(project.root)
    folder = project.root / "outbox" / DATE
    image = BeautifulSoup((folder / "issue.html").read_text(), "html.parser").find("img")
    assert image["width"] == "300"
    assert image["src"] == "https://news.example.org/issues/2025-12-05/small.png"
    assert (folder / "small.png").is_file()


@pytest.mark.parametrize("name,data,markdown,message", [
    ("fig1.png", None, None, "figure 'fig1.png' not found next to fig.md (put fig1.png in"),
    ("fig1.png", b"not an image", None, "figure 'fig1.png' is not a PNG, JPEG or GIF image"),
    ("chart.svg", b"<svg/>", None, "figure 'chart.svg' must be a .png, .jpg or .gif file"),
    ("fig1.png", png(10, 10), "![A chart](figures/fig1.png)", "figure 'figures/fig1.png' "
                                                              "must be a .png, .jpg or .gif"),
])
def test_a_figure_compose_cannot_publish_is_one_line_at_its_source(
        project: Project, name: str, data: bytes | None, markdown: str | None,
        message: str) -> None:
    _figure_project(project, name, data, markdown)
    result = CliRunner().invoke(cli, ["compose", "--date", DATE])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: seeds/papers/fig.md:21: {message}"), result.stderr
    assert not (project.root / "outbox").exists()


def test_image_sizes_are_read_from_the_file_header() -> None:
    assert image_size(png(640, 240)) == (image_size(png(640, 240)))
    size = image_size(png(640, 240))
    assert size is not None and (size.kind, size.width, size.height) == ("png", 640, 240)
    gif = b"GIF89a" + struct.pack("<HH", 120, 80) + b"\x00" * 8
    assert image_size(gif).width == 120  # type: ignore[union-attr]
    jpeg = (b"\xff\xd8" + b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x00" * 9
            + b"\xff\xc0" + struct.pack(">HBHH", 17, 8, 480, 1280) + b"\x00" * 12)
    size = image_size(jpeg)
    assert size is not None and (size.kind, size.width, size.height) == ("jpeg", 1280, 480)
    assert image_size(b"<svg/>") is None
    assert is_local_figure("fig1.png") and is_local_figure("figures/fig1.png")
    assert not any(map(is_local_figure, ["https://x.org/a.png", "/abs.png", "//cdn/a.png", ""]))


# What check says (newsletter/lint/render_rules.py)


def test_check_warns_about_a_formula_shown_as_source_and_names_it() -> None:
    findings = render_rules(read_document(RESEARCH / "seeds/papers/leaderless-log-replication.md"))
    assert [(f.severity, f.code, f.line) for f in findings] == [
        ("warning", "formula-as-source", 18)]
    assert findings[0].message.startswith(r"formula '\sum_{i=1}^{n} w_i \le C' cannot be shown")
    assert render_rules(read_document(RESEARCH / "seeds/papers/block-sparse-attention.md")) == []


@pytest.mark.parametrize("data,why", [
    (png(5000, 10), "is 5,000 x 10 pixels, over 4,000 on a side"),
    (png(100, 100, padding=MAX_FIGURE_BYTES), "bytes, over 1,000,000"),
])
def test_check_reports_a_figure_too_large_to_send(project: Project, data: bytes,
                                                  why: str) -> None:
    paper = _figure_project(project, "big.png", data)
    findings = render_rules(read_document(paper))
    assert [(f.severity, f.code, f.line) for f in findings] == [("error", "figure-size", 21)]
    assert findings[0].message.startswith("figure 'big.png' ") and why in findings[0].message


# The reader's summary, the greeting, and details a careful reader notices


def test_the_summary_lists_each_paper_with_a_link_to_it(soup: BeautifulSoup,
                                                        text: str) -> None:
    label = soup.find(attrs={"role": "heading"})
    assert label.get_text() == "In this issue" and label["aria-level"] == "2"
    items = soup.find("ul", class_="nl-summary").find_all("li")
    targets = [li.a["href"] for li in items]
    assert targets == ["#paper-block-sparse-attention", "#paper-leaderless-log-replication"]
    assert [soup.find(id=target[1:]).name for target in targets] == ["h2", "h2"]
    assert items[0].get_text(" ", strip=True) == (
        "Block-Sparse Attention: Long Contexts at Linear Cost — Block-sparse attention serves "
        "128K-token contexts 2.7x faster at the same quality.")
    summary = text[text.index("In this issue") : text.index("\n\n\n1. ")]
    assert summary.splitlines() == [
        "In this issue", "-------------", "",
        "1. Block-Sparse Attention: Long Contexts at Linear Cost — Block-sparse",
        "   attention serves 128K-token contexts 2.7x faster at the same quality.",
        "2. Leaderless Log Replication, Verified — A leaderless protocol commits",
        "   in one round trip and comes with a machine-checked proof."]


def test_the_track_and_the_buttons_read_well_without_styles(soup: BeautifulSoup) -> None:
    flat = soup.get_text(" ", strip=True)
    assert "ml track · ICML 2025 · Spotlight" in flat and "systems track · OSDI 2025" in flat
    buttons = [a.get_text(strip=True) for a in soup.find_all("a", target="_blank")]
    assert buttons == ["Read on arXiv: Block-Sparse Attention: Long Contexts at Linear Cost",
                       "Get the code: Block-Sparse Attention: Long Contexts at Linear Cost",
                       "Read the paper: Leaderless Log Replication, Verified"]
    hidden = soup.find_all("span", class_="nl-sr")
    assert all("mso-hide: all" in span["style"] and "display: none" not in span["style"]
               for span in hidden)


def test_the_preheader_is_hidden_without_low_contrast_text(soup: BeautifulSoup) -> None:
    preheader = soup.find("div", attrs={"aria-hidden": "true"})
    style = preheader["style"]
    assert preheader.get_text().startswith("2 papers this week: Block-Sparse Attention")
    assert "display:none" in style and "mso-hide:all" in style
    assert "color" not in style and "font-size" not in style  # SpamAssassin's low contrast


@pytest.mark.parametrize("name,mode,shown", [
    ("Ada Lovelace", "first", "Ada"), ("Ada Lovelace", "full", "Ada Lovelace"),
    ("Ada Lovelace", "none", "there"), ("Lovelace, Ada", "first", "Ada"),
    ("  Grace   Brewster Hopper ", "full", "Grace Brewster Hopper"), ("", "first", "there"),
    ("", "full", "there"), ("Ada", "first", "Ada"), ("Lovelace,", "first", "Lovelace"),
])
def test_the_greeting_names_the_reader(name: str, mode: str, shown: str) -> None:
    assert greeting(name, mode) == shown


def test_an_unknown_greeting_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="greeting_name must be one of first, full, none"):
        greeting("Ada", "nickname")


# Citation data


def _paper(**changes) -> Paper:
    doc = read_document(RESEARCH / "seeds/papers/block-sparse-attention.md")
    return Paper(slug="block-sparse-attention", **{**doc.meta, **changes})


def test_each_paper_has_its_citation_in_issue_json(outbox: Path) -> None:
    papers = json.loads((outbox / "issue.json").read_text())["papers"]
    first = papers[0]["citation"]
    assert first["key"] == "hopper2025block"
    assert first["bibtex"] == (
        "@inproceedings{hopper2025block,\n"
        "  title = {{Block-Sparse Attention: Long Contexts at Linear Cost}},\n"
        "  author = {Grace Hopper and Edsger W. Dijkstra and Ludwig van Beethoven},\n"
        "  booktitle = {ICML 2025},\n  year = {2025},\n  eprint = {2411.01234},\n"
        "  archiveprefix = {arXiv},\n  url = {https://arxiv.org/abs/2411.01234},\n"
        "  note = {Spotlight presentation},\n  month = nov\n}\n")
    assert first["csl"] == csl_json(_paper())
    assert first["csl"]["author"][2] == {"given": "Ludwig", "family": "van Beethoven"}
    assert first["csl"]["issued"] == {"date-parts": [[2025, 11, 20]]}
    second = papers[1]["citation"]
    assert second["key"] == "lamport2025leaderless" and "eprint" not in second["bibtex"]
    assert second["csl"]["type"] == "paper-conference" and "genre" not in second["csl"]


def test_bibtex_escapes_what_latex_would_read_as_commands() -> None:
    entry = bibtex(_paper(title="Cost & Quality: 100% of $x_1$ #1 ~ {braces}"))
    assert r"title = {{Cost \& Quality: 100\% of \$x\_1\$ \#1 \textasciitilde{} \{braces\}}}" \
        in entry
    assert split_name("Plato") == {"literal": "Plato"}
    assert split_name("Jean de la Fontaine") == {"given": "Jean", "family": "de la Fontaine"}


def test_a_paper_file_with_math_passes_the_plaintext_width_rule(project: Project) -> None:
    wide = paper_text(body="## Key Finding\n\n| " + " | ".join(f"Column {i}" for i in range(12))
                      + " |\n|" + "---|" * 12 + "\n| " + " | ".join("x" * 9 for _ in range(12))
                      + " |\n\n## Why It Matters\n\n$a_1 + b_2$\n")
    project.add_paper("wide", text=wide)
    project.add_issue(DATE, ["wide"])
    compose(project.root)
    lines = (project.root / "outbox" / DATE / "issue.txt").read_text().splitlines()
    assert "Column 0: xxxxxxxxx" in lines and "a₁ + b₂" in lines
    assert max(len(line) for line in lines) <= 72
