"""A throwaway project folder with the real templates, and builders of paper and issue files."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

from newsletter.config import Config

REPO = Path(__file__).resolve().parents[2]
# The five legacy issues as the editor wrote them: the repository's own copy.
LEGACY_SEEDS = REPO / "seeds" / "archive"


def paper_text(title: str = "A Paper", *, venue: str = "NeurIPS 2025",
               presentation: str | None = "Oral", published: str = "2025-11-01",
               track: str = "ml", takeaway: str = "It works.",
               links: dict[str, str] | None = None, extra_front: str = "",
               body: str | None = None) -> str:
    """A valid paper file; override pieces to make it invalid."""
    links = links if links is not None else {"arXiv": "https://arxiv.org/abs/2411.12345"}
    link_lines = "".join(f"  {name}: {url}\n" for name, url in links.items())
    presentation_line = f"presentation: {presentation}\n" if presentation else ""
    body = body if body is not None else textwrap.dedent("""\
        ## Key Finding

        The finding, with a figure: 2.5x faster.

        ## Why It Matters

        ### For Staff Engineers

        - **Cost:** lower
        """)
    return (f"---\ntitle: \"{title}\"\nauthors:\n  - Ada Lovelace\n  - Alan Turing\n"
            f"affiliations:\n  - Analytical Engines Ltd\nvenue: {venue}\n{presentation_line}"
            f"published: \"{published}\"\ntrack: {track}\nlinks:\n{link_lines}"
            f"takeaway: \"{takeaway}\"\n{extra_front}---\n\n{body}")


def issue_text(date: str, papers: list[str], *, status: str = "sent",
               body: str = "## Bottom Line\n\nRead both.\n") -> str:
    slugs = "".join(f"  - {slug}\n" for slug in papers)
    return f"---\ndate: {date}\nstatus: {status}\npapers:\n{slugs}---\n\n{body}"


class Project:
    """A project folder: newsletter.toml, templates/, seeds/{papers,issues}/, outbox/."""

    def __init__(self, root: Path) -> None:
        self.root = root
        shutil.copytree(REPO / "templates", root / "templates")
        (root / "newsletter.toml").write_text(
            'title = "Research Update"\nfrom_address = "news@example.org"\n'
            'base_url = "https://news.example.org"\ntracks = ["ml", "systems"]\n'
            "[selection]\nmax_papers = 2\nwindow_days = 60\n", encoding="utf-8")
        (root / "seeds" / "papers").mkdir(parents=True)
        (root / "seeds" / "issues").mkdir(parents=True)

    def add_paper(self, slug: str, text: str | None = None, **kwargs) -> Path:
        path = self.root / "seeds" / "papers" / f"{slug}.md"
        path.write_text(text if text is not None else paper_text(**kwargs), encoding="utf-8")
        return path

    def add_issue(self, date: str, papers: list[str], text: str | None = None, **kwargs) -> Path:
        path = self.root / "seeds" / "issues" / f"{date}.md"
        path.write_text(text if text is not None else issue_text(date, papers, **kwargs),
                        encoding="utf-8")
        return path

    def config(self) -> Config:
        from newsletter.config import load_config

        return load_config(self.root / "newsletter.toml")

    def files(self) -> set[str]:
        return {str(p.relative_to(self.root)) for p in self.root.rglob("*") if p.is_file()}
