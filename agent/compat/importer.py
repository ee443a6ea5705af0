"""The engine's `Importer` for `pyinfra[.x]`: those names mean pullinfra inside user code."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from agent.engine.errors import UnknownNameError
from agent.engine.fact import FactBase

_ROOT = "agent.compat.pyinfra"
_CATALOGUES = {"operations": "operation", "facts": "fact"}


def _target_module(name: str) -> str:
    parts = name.split(".")
    if parts[0] == "pullinfra":
        return "agent.compat." + ".".join(parts)
    if len(parts) == 1 or parts[1] == "context":
        return _ROOT
    if parts[1] == "api":
        return f"{_ROOT}.api"
    if parts[1] in _CATALOGUES and len(parts) >= 3 and parts[2] != "util":
        return "agent.catalogue." + ".".join(parts[1:])
    return f"{_ROOT}." + ".".join(parts[1:])


def import_compat(name: str) -> ModuleType:
    """Import what `pyinfra...` means inside deploy code, or say clearly that it is missing."""
    target = _target_module(name)
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as exc:
        if exc.name is None or not target.startswith(exc.name):
            raise
        raise UnknownNameError(
            f"`{name}` is not implemented by pullinfra",
            fix="use the operations and facts pullinfra provides (see docs/engine-seam.md)",
        ) from None


def check_exported(module: ModuleType, pyinfra_name: str, item: str) -> Any:
    try:
        return getattr(module, item)
    except AttributeError:
        pass
    kind = next((v for k, v in _CATALOGUES.items() if f".{k}." in f".{pyinfra_name}."), None)
    what = f"{kind} {pyinfra_name.split('.')[-1]}.{item}" if kind else f"{pyinfra_name}.{item}"
    raise UnknownNameError(
        f"{what} is not implemented by pullinfra",
        fix=f"pullinfra's {pyinfra_name} provides: {', '.join(public_names(module)) or 'nothing'}",
    )


def public_names(module: ModuleType) -> list[str]:
    names = []
    for key, value in vars(module).items():
        if key.startswith("_"):
            continue
        is_op = callable(value) and hasattr(value, "definition")
        is_fact = isinstance(value, type) and issubclass(value, FactBase) and value is not FactBase
        if is_op or (is_fact and _defined_in(value, module)):
            names.append(key)
    return sorted(names)


def _defined_in(fact: type, module: ModuleType) -> bool:
    """The module itself, or one of its private submodules (`facts/server/_users.py`), so a
    fact a module only imports is not listed as its own."""
    home = fact.__module__
    return home == module.__name__ or home.startswith(f"{module.__name__}._")


def import_pyinfra(name: str, fromlist: Sequence[str]) -> ModuleType | None:
    """An `agent.engine.imports.Importer`: `pyinfra...` gives pullinfra's modules (an unknown
    name is an UnknownNameError naming what exists); `pullinfra` gives the names pullinfra
    adds (`secret`); any other name is left alone."""
    root = name.partition(".")[0]
    if root not in ("pyinfra", "pullinfra"):
        return None
    module = import_compat(name)
    if not fromlist:
        return import_compat(root)
    for item in fromlist:
        if item != "*":
            check_exported(module, name, item)
    return module

