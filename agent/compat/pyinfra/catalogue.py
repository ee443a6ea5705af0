"""Lazy `operations.<module>` / `facts.<module>` access with clear errors for unknown names."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from agent.compat.importer import check_exported, import_compat


class CatalogueModule:
    """Stands for e.g. `pyinfra.operations.apt`; unknown attributes fail with a clear error."""

    def __init__(self, pyinfra_name: str, module: ModuleType) -> None:
        self._pyinfra_name = pyinfra_name
        self._module = module

    def __getattr__(self, item: str) -> Any:
        if item.startswith("__"):
            return getattr(self._module, item)
        return check_exported(self._module, self._pyinfra_name, item)

    def __repr__(self) -> str:
        return f"<pullinfra {self._pyinfra_name}>"


def catalogue_attribute(package: str, item: str) -> CatalogueModule:
    if item.startswith("__"):
        raise AttributeError(item)
    name = f"pyinfra.{package}.{item}"
    return CatalogueModule(name, import_compat(name))
