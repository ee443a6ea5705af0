"""`pyinfra.operations` inside deploy code: `operations.apt.packages` resolves lazily."""

from __future__ import annotations

from agent.compat.pyinfra.catalogue import CatalogueModule, catalogue_attribute


def __getattr__(name: str) -> CatalogueModule:
    return catalogue_attribute("operations", name)
