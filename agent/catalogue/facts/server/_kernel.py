"""server facts: kernel settings (sysctl)."""

from __future__ import annotations

import re
import shlex
from typing import Any

from agent.engine.fact import FactBase

__all__ = ["Sysctl"]

_PLAIN_VALUES = re.compile(r"^[a-zA-Z0-9_\-\.\s]+$")


def _number_or_text(value: str) -> int | str:
    try:
        return int(value)
    except ValueError:
        return value


def _parse_values(text: str) -> Any:
    """Plain values become numbers, and a value of several words a list of them
    (`fs.inode-state` is `[44565, 360]`), so an operation compares them as numbers."""
    if not _PLAIN_VALUES.match(text):
        return text
    values = [_number_or_text(word) for word in text.split()]
    return values[0] if len(values) == 1 else values


class Sysctl(FactBase[dict[str, Any]]):
    """The given sysctl keys (all of them when `keys` is None) and their values; a key the
    kernel does not have is left out."""

    def command(self, keys: list[str] | None = None) -> str:
        if keys is None:
            return "sysctl -a 2>/dev/null || true"
        return " ".join(["sysctl", *(shlex.quote(key) for key in keys), "2>/dev/null || true"])

    def default(self) -> dict[str, Any]:
        return {}

    def process(self, output: list[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for line in output:
            separator = "=" if "=" in line else ":" if ":" in line else None
            if separator is None:
                continue
            key, values = (part.strip() for part in line.split(separator, 1))
            if key and values:
                found[key] = _parse_values(values)
        return found
