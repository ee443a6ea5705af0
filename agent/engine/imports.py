"""The `__import__` that user code (inventory, deploy files, their helper modules) runs with.

The engine maps no package names of its own. Whoever runs it may hand it an `Importer` that
owns some names (the compat layer owns `pyinfra...` and answers with pullinfra's modules);
the engine asks it first about every absolute import the user's code makes, so the mapping
reaches exactly the files the engine executes and nothing else in the process.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any, Protocol

_REAL_IMPORT = builtins.__import__


class Importer(Protocol):
    """Resolves the absolute imports it owns; None leaves the name to the normal import."""

    def __call__(self, name: str, fromlist: Sequence[str]) -> ModuleType | None: ...


# The run's resolver for the repository's own modules (agent/engine/loader.py); None means
# "not the repository's".
LocalImport = Callable[
    [str, Mapping[str, Any] | None, Sequence[str], int], ModuleType | None
]


def _make_import(
    importer: Importer | None, local_import: LocalImport | None
) -> Callable[..., ModuleType]:
    def user_import(
        name: str,
        globals: dict[str, Any] | None = None,
        locals: dict[str, Any] | None = None,
        fromlist: Sequence[str] | None = (),
        level: int = 0,
    ) -> ModuleType:
        if level == 0 and importer is not None:
            module = importer(name, fromlist or ())
            if module is not None:
                return module
        if local_import is not None:
            module = local_import(name, globals, fromlist or (), level)
            if module is not None:
                return module
        return _REAL_IMPORT(name, globals, locals, fromlist or (), level)

    return user_import


def user_builtins(
    importer: Importer | None = None, local_import: LocalImport | None = None
) -> dict[str, Any]:
    """A fresh builtins namespace for user code: a copy, so the process's builtins (and with
    them every other module's imports) stay as they are.

    Without `local_import` (inventory files) imports the importer does not own are normal
    imports.
    """
    namespace = dict(vars(builtins))
    namespace["__import__"] = _make_import(importer, local_import)
    return namespace
