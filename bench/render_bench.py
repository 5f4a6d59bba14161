"""Compose and render: whole process against Node's mjml CLI, and in process."""

from __future__ import annotations

import datetime as dt
import shutil
import sys
import tempfile
from pathlib import Path

from mjml import mjml2html

from newsletter.config import load_config
from newsletter.content.readers import load_content
from newsletter.render.issue import render_issue

from . import node_mjml
from .measure import Figure, summarize, time_call, time_process

REPO = Path(__file__).resolve().parents[1]
DATE = "2025-11-28"


def project_copy() -> Path:
    """A scratch copy of the bundled project, so benchmarks never touch outbox/."""
    root = Path(tempfile.mkdtemp(prefix="nl-bench-"))
    for name in ("seeds", "templates"):
        shutil.copytree(REPO / name, root / name)
    shutil.copy(REPO / "newsletter.toml", root)
    return root


def _issue_inputs(root: Path):
    config = load_config(root / "newsletter.toml")
    content = load_content(config.resolve(config.content_dir), tracks=config.tracks)
    issue = content.issues[dt.date.fromisoformat(DATE)]
    return issue, [content.papers[slug] for slug in issue.papers], config


def bench_compose(root: Path, runs: int) -> list[Figure]:
    """`newsletter compose` as a process vs `mjml` CLI compiling the same intermediate MJML."""
    cli = node_mjml.ensure_installed()
    issue, papers, config = _issue_inputs(root)
    mjml_file = root / "issue.mjml"
    mjml_file.write_text(render_issue(issue, papers, config).mjml)
    newsletter = [sys.executable, "-m", "newsletter", "compose", "--date", DATE]
    ours = summarize("compose, whole process", "ms", time_process(newsletter, runs, cwd=root))
    theirs = summarize("Node mjml CLI, same MJML", "ms",
                       time_process([str(cli), str(mjml_file), "-o", str(root / "node.html")],
                                    runs, cwd=root))
    ours.extra["ratio"] = theirs.median / ours.median
    ours.note = f"{ours.extra['ratio']:.1f}x faster than the Node mjml CLI (target >= 3x)"
    floor = summarize("floor: Python importing compose's libraries, none of our code", "ms",
                      time_process([sys.executable, "-c", _LIBRARIES_ONLY], runs, cwd=root))
    floor.note = (f"{theirs.median / floor.median:.1f}x faster than the Node mjml CLI: "
                  "the best compose could do with these libraries")
    return [ours, theirs, floor]


# What `newsletter compose` imports from outside the project, and one pydantic model (the
# first model class pays for pydantic's schema machinery).
_LIBRARIES_ONLY = """
import click, jinja2, markdown_it, yaml, frontmatter, mjml, css_inline, tomllib
import email.message, email.policy
import mdit_py_plugins.footnote, mdit_py_plugins.dollarmath
from pydantic import BaseModel
class Model(BaseModel):
    name: str
Model(name="x")
"""


def bench_render(root: Path, runs: int) -> list[Figure]:
    """The in-process render and the bare MJML compile against Node's compiler in process."""
    issue, papers, config = _issue_inputs(root)
    render = summarize("render in process (Jinja2 + MJML + CSS inline + text)", "ms",
                       time_call(lambda: render_issue(issue, papers, config), runs))
    render.note = "target < 5 ms"
    source = render_issue(issue, papers, config).mjml
    mrml = summarize(f"MJML compile, mjml-python ({len(source) // 1024} KB MJML)", "ms",
                     time_call(lambda: mjml2html(source), runs))
    mjml_file = root / "issue.mjml"
    mjml_file.write_text(source)
    node = summarize("MJML compile, Node mjml in process", "ms",
                     node_mjml.compile_in_process(mjml_file, max(5, runs // 4)))
    mrml.extra["ratio"] = node.median / mrml.median
    mrml.note = f"{mrml.extra['ratio']:.0f}x faster than Node mjml in process"
    return [render, mrml, node]


def bench_help(runs: int) -> list[Figure]:
    figure = summarize("`newsletter --help`, whole process", "ms",
                       time_process([sys.executable, "-m", "newsletter", "--help"], runs))
    figure.note = "target < 150 ms"
    return [figure]
