"""The command line as a whole: help everywhere, documented, and quick to start."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from newsletter.cli import cli
from support.project import REPO


def _commands(group: click.Group, prefix: str = "newsletter") -> list[tuple[str, click.Command]]:
    found = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):  # loads the commands registered on demand
        command = group.get_command(ctx, name)
        path = f"{prefix} {name}"
        found.append((path, command))
        if isinstance(command, click.Group):
            found += _commands(command, path)
    return found


COMMANDS = _commands(cli)


@pytest.mark.parametrize("path,command", COMMANDS, ids=[path for path, _ in COMMANDS])
def test_every_command_has_help_and_is_in_the_readme(path: str, command: click.Command) -> None:
    assert (command.help or "").strip(), f"{path} has no help text"
    assert f"`{path}" in (REPO / "README.md").read_text(), f"README does not mention {path}"


def test_help_does_not_import_the_pipeline() -> None:
    code = ("import sys; from newsletter.cli import cli; "
            "print(' '.join(m for m in ('jinja2', 'mjml', 'pydantic', 'markdown_it', 'css_inline',"
            " 'sqlite3', 'smtplib', 'watchfiles', 'playwright') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == "", f"importing the CLI loads {loaded}: keep imports inside commands"


def test_compose_does_not_load_the_later_command_modules() -> None:
    code = ("import sys, click; from newsletter.cli import cli; "
            "cli.get_command(click.Context(cli), 'compose'); "
            "print(' '.join(m for m in ('newsletter.cli.preview', 'newsletter.cli.lint', "
            "'newsletter.cli.audience', 'newsletter.cli.delivery') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == "", f"resolving `compose` loads {loaded}"


def test_help_runs() -> None:
    result = subprocess.run([sys.executable, "-m", "newsletter", "--help"], capture_output=True,
                            text=True, check=True)
    assert "compose" in result.stdout
