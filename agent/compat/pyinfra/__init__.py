"""What `import pyinfra` means inside deploy code run by pullinfra."""

from __future__ import annotations

from typing import Any

from agent.compat.pyinfra import api, facts, operations
from agent.engine.context import host
from agent.engine.errors import UnknownNameError

__all__ = ["api", "facts", "host", "operations"]


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    raise UnknownNameError(
        f"pyinfra.{name} is not supported by pullinfra",
        fix="deploy code may use pyinfra.host, pyinfra.operations, pyinfra.facts, pyinfra.api",
    )
