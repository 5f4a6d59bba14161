"""The shape of the package: dependencies flow one way, and only the CLI knows click."""

from __future__ import annotations

import ast
from collections import defaultdict
from functools import cache
from pathlib import Path

from support.project import REPO

PACKAGE = REPO / "newsletter"
# Who may import whom: a package may import the ones after it in this order, never before.
LAYERS = ["cli", "commands", "web", "preview", "lint", "sources", "importers", "delivery",
          "audience", "mail", "render", "compose", "content", "store", "config", "diagnostics",
          "errors"]
# Pure pydantic settings models of a stage that the one Config holds: config.py imports them
# against the flow on purpose (they import nothing of their stage).
SETTINGS = {"newsletter.sources.settings", "newsletter.mail.dkim_settings",
            "newsletter.delivery.bounce_settings", "newsletter.web.settings"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _imports() -> dict[str, set[str]]:
    """module -> the newsletter modules (and 'click') it imports, at any depth of the file."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        module = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                found[module].add(node.module)
            elif isinstance(node, ast.Import):
                found[module].update(alias.name for alias in node.names)
    return found


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "newsletter" else None


def test_only_the_cli_imports_click() -> None:
    users = sorted(module for module, names in _imports().items()
                   if any(name == "click" or name.startswith("click.") for name in names)
                   and _stage(module) != "cli")
    assert users == [], f"core modules must not depend on click: {users}"


def test_dependencies_flow_one_way() -> None:
    wrong = []
    for module, names in _imports().items():
        here = _stage(module)
        if here not in LAYERS:
            continue
        for name in names:
            if name in SETTINGS and module == "newsletter.config":
                continue
            there = _stage(name)
            if there in LAYERS and there != here and LAYERS.index(there) < LAYERS.index(here):
                wrong.append(f"{module} imports {name}")
    assert wrong == [], "imports against the flow cli -> commands -> stages -> store/config:\n" \
        + "\n".join(sorted(wrong))


def test_no_import_cycles_between_modules() -> None:
    modules = _imports()
    graph = {module: {name for name in names if name in modules}
             for module, names in modules.items()}
    state: dict[str, int] = {}
    cycles: list[str] = []

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for name in sorted(graph.get(module, ())):
            if state.get(name) == 1:
                cycles.append(" -> ".join([*trail[trail.index(name):], name]))
            elif name not in state:
                visit(name, [*trail, name])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == [], "import cycles:\n" + "\n".join(cycles)
