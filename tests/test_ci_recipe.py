"""The CI recipe users copy (examples/ci/) and the pieces of its proof (.ci/prove_ci_recipe.sh,
which runs it end to end against PostgreSQL and an SMTP server; here only what is quick)."""

from __future__ import annotations

import os
import shutil
import smtplib
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SEND_SH = ROOT / "examples" / "ci" / "send.sh"
WORKFLOW = ROOT / "examples" / "ci" / "github-actions.yml"
PROOF = ROOT / ".ci" / "prove_ci_recipe.sh"
RECORDER = ROOT / ".ci" / "recording_smtp.py"
RECIPE_CONFIG = ROOT / ".ci" / "ci_recipe" / "newsletter.toml"


def test_the_workflow_checks_then_sends_one_issue_at_a_time() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert triggers["workflow_dispatch"]["inputs"]["issue_date"]["required"] is True
    assert workflow["concurrency"] == {"group": "newsletter-${{ inputs.issue_date }}",
                                       "cancel-in-progress": False}
    job = workflow["jobs"]["send"]
    for name in ("NEWSLETTER_DATABASE_URL", "NEWSLETTER_SECRET", "NEWSLETTER_SMTP_URL",
                 "NEWSLETTER_SMTP_PASSWORD", "NEWSLETTER_DKIM_RSA_KEY",
                 "NEWSLETTER_DKIM_ED25519_KEY"):
        assert job["env"][name] == "${{ secrets." + name + " }}"
    assert job["env"]["NEWSLETTER_TRANSPORT"] == "smtp"
    runs = [step.get("run", "") for step in job["steps"]]
    check = next(i for i, run in enumerate(runs) if "newsletter check --date" in run)
    send = next(i for i, run in enumerate(runs) if "newsletter send --date" in run)
    assert check < send
    assert "75" in runs[send]
    # Inputs reach the scripts as variables only (no `${{ inputs.x }}` pasted into a shell).
    assert not any("${{" in run for run in runs)


def test_the_scripts_parse() -> None:
    for script in (SEND_SH, PROOF):
        subprocess.run(["bash", "-n", str(script)], check=True)
    if shutil.which("shellcheck"):
        subprocess.run(["shellcheck", "-S", "warning", str(SEND_SH), str(PROOF)], check=True)


def _send_sh(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", str(tmp_path)), **env}
    return subprocess.run(["bash", str(SEND_SH)], cwd=tmp_path, env=clean, text=True,
                          capture_output=True, timeout=60, check=False)


@pytest.mark.parametrize(("env", "says"), [
    ({}, "set ISSUE_DATE"),
    ({"ISSUE_DATE": "2025-12-05"}, "set NEWSLETTER_DATABASE_URL"),
    ({"ISSUE_DATE": "2025-12-05", "NEWSLETTER_DATABASE_URL": "postgresql://u@h/db"},
     "set NEWSLETTER_SECRET"),
    ({"ISSUE_DATE": "2025-12-05", "NEWSLETTER_DATABASE_URL": "newsletter.sqlite3",
      "NEWSLETTER_SECRET": "x" * 32}, "must be a postgresql:// URL"),
])
def test_send_sh_refuses_settings_that_lose_state(tmp_path: Path, env: dict[str, str],
                                                  says: str) -> None:
    done = _send_sh(tmp_path, **env)
    assert done.returncode == 2, done.stderr
    assert says in done.stderr
    assert not (tmp_path / ".venv-send").exists()  # refused before installing anything


@pytest.mark.parametrize("date", ["2025-12-05", "2025-12-12"])
def test_the_proofs_issues_pass_check(date: str) -> None:
    from newsletter.config import load_config
    from newsletter.content.models import parse_issue_date
    from newsletter.lint.runner import run_check

    report = run_check(load_config(RECIPE_CONFIG), parse_issue_date(date))
    assert report.errors == 0


def test_the_recording_server_records_each_recipient_before_its_reply(tmp_path: Path) -> None:
    port_file, log = tmp_path / "port", tmp_path / "records.tsv"
    (tmp_path / "delay").write_text("0.2\n")
    server = subprocess.Popen([sys.executable, str(RECORDER), "--port-file", str(port_file),
                               "--log", str(log), "--delay-file", str(tmp_path / "delay")])
    try:
        deadline = time.monotonic() + 20
        while not port_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        message = EmailMessage()
        message["From"], message["Subject"] = "a@example.org", "Hello   there"
        message.set_content("hi")
        started = time.monotonic()
        with smtplib.SMTP("127.0.0.1", int(port_file.read_text()), timeout=10) as client:
            client.send_message(message, to_addrs=["b@example.org", "c@example.org"])
        assert time.monotonic() - started >= 0.2
        assert log.read_text() == "b@example.org\tHello there\nc@example.org\tHello there\n"
    finally:
        server.terminate()
        assert server.wait(10) == 0
