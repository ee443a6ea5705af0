"""Jinja2 rendering for files.template, with errors that point at the template's file:line."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Hashable, Mapping
from pathlib import Path
from typing import IO, Any

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
)

from agent.catalogue.operations.util.files import read_file_like
from agent.engine.operation_errors import OperationError

STRING_TEMPLATE = "<string>"
# host.memo: (key, make) -> the run's shared value for key
Memo = Callable[[Hashable, Callable[[], Environment]], Environment]
# host.local_path for an absolute file name: the name back, or EscapingPathError
Confine = Callable[[str], Any]


class _ConfinedLoader(FileSystemLoader):
    """An `{% include %}` or `{% extends %}` is a local file too: one that resolves outside
    the run's root (a symlink in the templates' folder) is refused as a template source is
    (agent/engine/local_paths.py)."""

    def __init__(self, searchpath: list[str], confine: Confine) -> None:
        super().__init__(searchpath)
        self._confine = confine

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        self._confine(filename)
        return source, filename, uptodate


def _error_line(exc: BaseException, filename: str) -> tuple[str, int | None]:
    """Where in the template the error happened: jinja's traceback frames carry it."""
    if isinstance(exc, TemplateSyntaxError) and exc.lineno:
        return exc.filename or filename, exc.lineno
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        if not frame.filename.endswith(".py"):
            return frame.filename, frame.lineno
    return filename, None


def _environment(
    dirs: list[str], env_kwargs: dict[str, Any], confine: Confine | None = None
) -> Environment:
    """StrictUndefined, trailing newline kept; templates load from `dirs` unless
    `jinja_env_kwargs` brings its own loader."""
    default = FileSystemLoader(dirs) if confine is None else _ConfinedLoader(dirs, confine)
    loader = env_kwargs.pop("loader", default)
    return Environment(
        undefined=StrictUndefined, keep_trailing_newline=True, loader=loader, **env_kwargs
    )


def render_template(
    src: str | Path | IO[Any],
    data: Mapping[str, Any],
    search_path: list[Path],
    jinja_env_kwargs: Mapping[str, Any] | None = None,
    memo: Memo | None = None,
    confine: Confine | None = None,
) -> str:
    """Render a template file (or a file-like holding template text) with StrictUndefined.

    ``search_path`` is where ``{% include %}`` / ``{% extends %}`` look, after the template's
    own directory. An undefined name, syntax error or failing filter becomes an
    OperationError naming the template file and line.

    With ``memo`` (``host.memo``), a template file without ``jinja_env_kwargs`` comes from
    an environment shared by the run's hosts, so it is compiled once per run rather than
    once per host; jinja's loader still checks the file's mtime on every use, so a template
    changed during the run is compiled again, as it would be without the cache.

    With ``confine``, every file the loader reads is passed to it first.
    """
    env_kwargs = dict(jinja_env_kwargs or {})
    name = STRING_TEMPLATE
    try:
        if hasattr(src, "read"):
            text = read_file_like(src).decode("utf-8")
            env = _environment([str(p) for p in search_path], env_kwargs, confine)
            template = env.from_string(text)
        else:
            path = Path(src)
            name = str(path)
            if not path.is_file():
                raise OperationError(f"template {path} does not exist")
            dirs = [str(path.parent), *(str(p) for p in search_path)]
            if memo is not None and not env_kwargs:
                env = memo(("jinja2.Environment", *dirs),
                           lambda: _environment(dirs, {}, confine))
            else:
                env = _environment(dirs, env_kwargs, confine)
            template = env.get_template(path.name)
        return template.render(dict(data))
    except TemplateNotFound as exc:
        raise OperationError(f"template {name}: included template not found: {exc}") from None
    except (TemplateError, TypeError, ValueError, AttributeError, KeyError) as exc:
        where, line = _error_line(exc, name)
        location = f"{where}:{line}" if line else where
        raise OperationError(
            f"template {location}: {type(exc).__name__}: {exc}"
        ) from None
