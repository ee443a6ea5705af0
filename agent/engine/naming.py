"""How operations and facts are named: `module.function` and `module.Class`, as pyinfra does."""

from __future__ import annotations


def module_label(dotted: str) -> str:
    """The module part of an operation's or fact's name: the last public part of its dotted
    module path. A catalogue module may then be a package whose private submodules
    (`operations/server/_users.py`) hold the code, and still name it `server.user`."""
    parts = dotted.split(".")
    while len(parts) > 1 and parts[-1].startswith("_") and not parts[-1].startswith("__"):
        parts.pop()
    return parts[-1]
