"""The reference tool: Node's `mjml` package, installed from npm into bench/node_modules."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
MJML_CLI = HERE / "node_modules" / ".bin" / "mjml"
VERSION = "5"

_IN_PROCESS = """
const mjml = require('mjml'); const fs = require('fs');
const source = fs.readFileSync(process.argv[1], 'utf8'); const runs = +process.argv[2];
(async () => {
  const compile = async () => { const r = mjml(source); return (r && r.then) ? await r : r; };
  for (let i = 0; i < 5; i++) await compile();
  const samples = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint(); await compile();
    samples.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  console.log(JSON.stringify(samples));
})();
"""


def ensure_installed() -> Path:
    """Install mjml from npm once; fail loudly if node or npm is missing."""
    if MJML_CLI.exists():
        return MJML_CLI
    npm = shutil.which("npm")
    if not npm or not shutil.which("node"):
        raise SystemExit("bench: node and npm are needed for the Node mjml comparison")
    subprocess.run([npm, "install", "--prefix", str(HERE), "--no-save", "--no-audit",
                    "--no-fund", "--loglevel=error", f"mjml@{VERSION}"], check=True)
    if not MJML_CLI.exists():
        raise SystemExit(f"bench: npm did not install {MJML_CLI}")
    return MJML_CLI


def compile_in_process(mjml_file: Path, runs: int) -> list[float]:
    """Milliseconds per compile inside one Node process (no start-up cost)."""
    ensure_installed()
    result = subprocess.run(["node", "-e", _IN_PROCESS, str(mjml_file), str(runs)],
                            cwd=HERE, check=True, capture_output=True, text=True)
    return json.loads(result.stdout)
