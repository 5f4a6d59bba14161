"""The Jinja2 environment of a template folder, and template errors as one-line RenderErrors.

Every way a template can fail (syntax, a missing include, an undefined name, a division by
zero, a template that extends itself) comes back as a RenderError naming the template file
and line, so no template mistake ever reaches the user as a traceback.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from newsletter.errors import RenderError


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates kept between runs (Jinja checks each template's source checksum)."""
    folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "newsletter"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return jinja2.FileSystemBytecodeCache(str(folder), "jinja-%s.cache")


@lru_cache(maxsize=8)
def _environment(templates: Path, filters: tuple[tuple[str, Callable[..., Any]], ...]
                 ) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates)), undefined=jinja2.StrictUndefined,
        autoescape=lambda name: bool(name) and not str(name).endswith(".txt.j2"),
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        bytecode_cache=_bytecode_cache(), auto_reload=True)
    env.filters.update(dict(filters))
    return env


def environment(templates: Path,
                filters: tuple[tuple[str, Callable[..., Any]], ...] = ()) -> jinja2.Environment:
    """The Jinja environment of a template folder; edited templates are picked up (preview)."""
    if not templates.is_dir():
        raise RenderError("template folder not found", path=templates,
                          hint="set templates_dir in newsletter.toml")
    return _environment(templates, filters)


def _template_frame(exc: BaseException) -> tuple[Path, int | None] | None:
    """Where an error was raised, if that was template code (not our filters: those are bugs)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if frames and frames[-1].filename.endswith(".j2"):
        return Path(frames[-1].filename), frames[-1].lineno
    return None


def render_template(env: jinja2.Environment, name: str, templates: Path,
                    context: dict[str, Any]) -> str:
    """Render one template; any failure of the template is a RenderError with its file:line."""
    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateNotFound as exc:
        missing = exc.name or name
        where = templates if missing == name else templates / name
        raise RenderError(f"template {missing} not found", path=where,
                          hint="create it or fix the name in the include") from None
    except jinja2.TemplateSyntaxError as exc:
        path = Path(exc.filename) if exc.filename else templates / name
        raise RenderError(f"template error: {exc.message}", path=path, line=exc.lineno) from exc
    except RecursionError as exc:
        raise RenderError("template error: it includes or extends itself",
                          path=templates / name) from exc
    except jinja2.TemplateError as exc:
        frame = _template_frame(exc)
        raise RenderError(f"template error: {exc.message}",
                          path=frame[0] if frame else templates / name,
                          line=frame[1] if frame else None) from exc
    except (ArithmeticError, LookupError, TypeError, ValueError, AttributeError) as exc:
        in_template = _template_frame(exc)
        if in_template is None:
            raise  # raised by our own code, not by the template: a bug
        raise RenderError(f"template error: {type(exc).__name__}: {exc}", path=in_template[0],
                          line=in_template[1]) from exc
