"""The Jinja2 environment of a template folder, and template errors as one-line RenderErrors.

Every way a template can fail (syntax, a missing include, an undefined name, a division by
zero, a template that extends itself) comes back as a RenderError naming the template file
and line, so no template mistake ever reaches the user as a traceback.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from contextlib import suppress
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.bccache import Bucket

from newsletter.errors import RenderError


class _BytecodeCache(jinja2.FileSystemBytecodeCache):
    """Jinja's file cache, as an optimisation only: a cache it cannot read or write (a full or
    read-only disk, a damaged file) means compiling the template again, never an error."""

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:
            bucket.reset()

    def dump_bytecode(self, bucket: Bucket) -> None:
        with suppress(OSError):
            super().dump_bytecode(bucket)


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates kept between runs (Jinja checks each template's source checksum)."""
    folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "newsletter"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return _BytecodeCache(str(folder), "jinja-%s.cache")


class _Loader(jinja2.FileSystemLoader):
    """Templates from one folder; one that cannot be read is a RenderError naming it."""

    def get_source(self, environment: jinja2.Environment,
                   template: str) -> tuple[str, str, Callable[[], bool]]:
        try:
            return super().get_source(environment, template)
        except jinja2.TemplateNotFound:
            raise  # an OSError too, but render_template says where it was asked for
        except UnicodeDecodeError as exc:
            raise RenderError("is not UTF-8 text", path=self._path(template),
                              hint="save it as UTF-8") from exc
        except OSError as exc:
            raise RenderError(f"cannot be read: {exc.strerror}",
                              path=self._path(template)) from exc

    def _path(self, template: str) -> Path:
        return Path(self.searchpath[0], *template.split("/"))


@lru_cache(maxsize=8)
def _environment(templates: Path, filters: tuple[tuple[str, Callable[..., Any]], ...]
                 ) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=_Loader(str(templates)), undefined=jinja2.StrictUndefined,
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


_JINJA = str(Path(jinja2.__file__).parent) + os.sep


def _is_template(frame: traceback.FrameSummary) -> bool:
    return frame.filename.endswith(".j2")


def _last_template_line(exc: BaseException) -> tuple[Path, int | None] | None:
    """The innermost line of template code the error passed through (Jinja maps its frames
    back to template files and lines)."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if _is_template(frame):
            return Path(frame.filename), frame.lineno
    return None


def _raised_by_template(exc: BaseException) -> tuple[Path, int | None] | None:
    """Where a Python error was raised, if that was template code or Jinja working for it
    (a built-in filter given the wrong value); None if it was our own code: a bug."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if _is_template(frame):
            return Path(frame.filename), frame.lineno
        if not frame.filename.startswith(_JINJA):
            return None
    return None


def _endless(exc: RecursionError) -> tuple[Path, int | None] | None:
    """Where a template includes or extends itself: most frames are then template code,
    unlike a recursion in our own code called from a template."""
    frames = traceback.extract_tb(exc.__traceback__)
    if sum(map(_is_template, frames)) * 2 < len(frames):
        return None
    return _last_template_line(exc)


def _not_found(exc: jinja2.TemplateNotFound, name: str, templates: Path) -> RenderError:
    missing = exc.name or name
    where = _last_template_line(exc)
    if where is None:
        return RenderError("template not found", path=templates / missing,
                           hint="create it, or set templates_dir in newsletter.toml")
    return RenderError(f"template {missing} not found", path=where[0], line=where[1],
                       hint="create it or fix the name in the include, extends or import")


def render_template(env: jinja2.Environment, name: str, templates: Path,
                    context: dict[str, Any]) -> str:
    """Render one template; any failure of the template is a RenderError with its file:line."""
    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateNotFound as exc:
        raise _not_found(exc, name, templates) from None
    except jinja2.TemplateSyntaxError as exc:
        path = Path(exc.filename) if exc.filename else templates / name
        raise RenderError(f"template error: {exc.message}", path=path, line=exc.lineno) from exc
    except jinja2.TemplateError as exc:
        where = _last_template_line(exc)
        raise RenderError(f"template error: {exc.message}",
                          path=where[0] if where else templates / name,
                          line=where[1] if where else None) from exc
    except RecursionError as exc:
        endless = _endless(exc)
        if endless is None:
            raise
        raise RenderError("template error: it includes or extends itself, endlessly",
                          path=endless[0], line=endless[1],
                          hint="remove that include or extends, or end the chain") from exc
    except (ArithmeticError, LookupError, TypeError, ValueError, AttributeError) as exc:
        in_template = _raised_by_template(exc)
        if in_template is None:
            raise  # raised by our own code, not by the template: a bug
        raise RenderError(f"template error: {type(exc).__name__}: {exc}", path=in_template[0],
                          line=in_template[1]) from exc
