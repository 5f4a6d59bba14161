"""Run the benchmarks and write BENCHMARKS.md: `python -m bench [--quick] [--only NAME]`."""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from . import delivery_bench, dkim_bench, pg_bench, render_bench
from .measure import Figure

REPO = Path(__file__).resolve().parents[1]


def machine() -> str:
    cpu = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                    if line.startswith("model name")), "")
    memory = ""
    if Path("/proc/meminfo").exists():
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kb / 1024 / 1024:.0f} GiB"
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip() \
        if shutil.which("node") else "no node"
    return (f"{platform.system()} {platform.machine()}, {cpu}, {_cores()} cores{memory}; "
            f"Python {platform.python_version()}; Node {node}")


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


def compile_bytecode() -> None:
    """What `pip install` does for a regular install: an editable one (and a machine with
    PYTHONDONTWRITEBYTECODE set) would compile our modules from source on every start."""
    import compileall

    compileall.compile_dir(REPO / "newsletter", quiet=1)


def run(quick: bool, only: str | None) -> list[Figure]:
    compile_bytecode()
    runs = 3 if quick else 10
    calls = 20 if quick else 300
    root = render_bench.project_copy()
    suites = {
        "compose": lambda: render_bench.bench_compose(root, runs),
        "render": lambda: render_bench.bench_render(root, calls),
        "help": lambda: render_bench.bench_help(runs),
        "build": lambda: delivery_bench.bench_build(
            root, 2_000 if quick else 100_000, 50 if quick else 1_000, runs=3 if quick else 5),
        "smtp": lambda: delivery_bench.bench_smtp(root, 500 if quick else 20_000,
                                                  runs=1 if quick else 3),
        "memory": lambda: delivery_bench.bench_memory(
            root, 200 if quick else 1_000, 2_000 if quick else 100_000, runs=1 if quick else 3),
        "window": lambda: delivery_bench.bench_duplicate_window(root, 500 if quick else 5_000),
        "dkim": lambda: dkim_bench.run(root, quick),
        "import": lambda: delivery_bench.bench_import(root, 5_000 if quick else 100_000,
                                                      runs=2 if quick else 5),
        "postgres": lambda: pg_bench.run(root, quick),
        "web": lambda: __import__("bench.web_bench", fromlist=["run"]).run(root, quick),
    }
    figures: list[Figure] = []
    for name, suite in suites.items():
        if only and name != only:
            continue
        print(f"== {name}", flush=True)
        for figure in suite():
            print(f"   {figure.name}: median {figure.median:.3f} {figure.unit} "
                  f"(min {figure.low:.3f}, max {figure.high:.3f}, n={figure.runs}) "
                  f"{figure.note}", flush=True)
            figures.append(figure)
    shutil.rmtree(root, ignore_errors=True)
    return figures


def write_markdown(figures: list[Figure], path: Path) -> None:
    lines = ["# Benchmarks", "",
             f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on: {machine()}.", "",
             "Reproduce with `python -m bench` after the README's set-up (it installs Node's "
             "`mjml` from npm into bench/node_modules). Figures are medians with min and max; "
             "both sides of each comparison ran in the same run on the same machine.", "",
             "| benchmark | median | min | max | runs | note |", "|---|---|---|---|---|---|"]
    for f in figures:
        lines.append(f"| {f.name} | {f.median:,.3f} {f.unit} | {f.low:,.3f} | {f.high:,.3f} | "
                     f"{f.runs} | {f.note} |")
    path.write_text("\n".join(lines) + "\n" + _analysis(path))


def _analysis(path: Path) -> str:
    """Keep the hand-written part of BENCHMARKS.md (after the marker) across runs."""
    marker = "<!-- analysis -->"
    if path.exists() and marker in path.read_text():
        return "\n" + marker + path.read_text().split(marker, 1)[1]
    return f"\n{marker}\n"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="small sizes: checks the benchmarks work (CI), not the speed")
    parser.add_argument("--only", help="run one suite")
    parser.add_argument("--write", action="store_true", help="rewrite BENCHMARKS.md")
    args = parser.parse_args()
    figures = run(args.quick, args.only)
    results = REPO / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "latest.json").write_text(json.dumps([f.to_dict() for f in figures], indent=2))
    if args.write:
        write_markdown(figures, REPO / "BENCHMARKS.md")


main()
