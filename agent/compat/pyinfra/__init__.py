"""What `import pyinfra` means inside deploy code run by pullinfra."""

from __future__ import annotations

from typing import Any

from agent.compat.pyinfra import api, facts, local, operations
from agent.engine.context import config, host, inventory
from agent.engine.errors import UnknownNameError, refuse_unknown_attribute

__all__ = ["api", "config", "facts", "host", "inventory", "local", "operations"]


def __getattr__(name: str) -> Any:
    refuse_unknown_attribute(
        "pyinfra",
        name,
        "pyinfra.host, config, inventory, local, operations, facts and api",
        private="__",
        error=UnknownNameError,
    )
