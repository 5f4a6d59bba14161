"""The command line: click only. Each command parses its options, calls one plain function from
`newsletter.commands`, and prints the result; our errors become one line and exit code 2.

Commands live in one module per subject and are imported only when they run (or when the
list of commands is needed, for help), so `compose` does not load the delivery commands.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import click

from newsletter import __version__
from newsletter.errors import NewsletterError

# The one registry: command name -> "module:function" under newsletter.cli.
COMMANDS = {
    "add": "add:add",
    "compose": "content:compose",
    "db": "db:db",
    "dkim": "dkim:dkim",
    "papers": "content:papers",
    "import": "content:import_",
    "bounces": "bounces:bounces",
    "check": "lint:check",
    "preview": "preview:preview",
    "subscribers": "audience:subscribers",
    "unsubscribe": "audience:unsubscribe",
    "send": "delivery:send",
    "serve": "web:serve",
    "site": "web:site",
    "status": "delivery:status",
}


class LazyGroup(click.Group):
    """Loads a command's module when it is asked for (click's documented lazy-loading group)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, attribute = COMMANDS[cmd_name].split(":")
        module = importlib.import_module(f"{__name__}.{module_name}")
        command = getattr(module, attribute)
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        """Our errors as one line on stderr with exit code 2; --debug shows the traceback."""
        try:
            return super().invoke(ctx)
        except NewsletterError as exc:
            if ctx.meta.get("newsletter.debug"):
                raise
            click.echo(f"error: {exc.one_line()}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="newsletter")
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              help="newsletter.toml to use (default: found from the current folder upward).")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, debug: bool) -> None:
    """Publish the Research Update: paper files in, a responsive email out."""
    ctx.meta["newsletter.debug"] = debug
    ctx.ensure_object(dict)["config_path"] = config_path


def main() -> None:
    cli(prog_name="newsletter")
