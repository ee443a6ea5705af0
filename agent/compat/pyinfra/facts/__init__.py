"""`pyinfra.facts` inside deploy code: `facts.files.File` resolves lazily."""

from __future__ import annotations

from agent.compat.pyinfra.catalogue import CatalogueModule, catalogue_attribute


def __getattr__(name: str) -> CatalogueModule:
    return catalogue_attribute("facts", name)
