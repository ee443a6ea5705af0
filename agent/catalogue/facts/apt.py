"""Facts about what apt would do: candidate versions and simulated upgrades."""

from __future__ import annotations

import re
import shlex
from typing import Any

from agent.engine.fact import FactBase


class AptPolicy(FactBase[dict[str, dict[str, str | None]]]):
    """Installed and candidate version of each package apt knows about.

    ``{"bash": {"installed": "5.2.15-2+b8", "candidate": "5.2.15-2+b13"}}``; a package apt has
    never heard of is missing from the dict. This is what lets ``apt.packages(latest=True)``
    upgrade only packages that have something newer, so a second run changes nothing.
    """

    def requires_command(self, packages: tuple[str, ...] | list[str]) -> str:
        return "apt-cache"

    def command(self, packages: tuple[str, ...] | list[str]) -> str:
        names = " ".join(shlex.quote(name) for name in packages)
        return f"LC_ALL=C apt-cache policy {names} 2>/dev/null || true"

    def default(self) -> dict[str, dict[str, str | None]]:
        return {}

    def process(self, output: list[str]) -> dict[str, dict[str, str | None]]:
        result: dict[str, dict[str, str | None]] = {}
        current: dict[str, str | None] | None = None
        for line in output:
            if line and not line[0].isspace() and line.rstrip().endswith(":"):
                # Multi-arch queries print "name:arch:"; the operations use bare names.
                name = line.rstrip()[:-1].split(":", 1)[0]
                current = result.setdefault(name, {"installed": None, "candidate": None})
                continue
            if current is None:
                continue
            field, _, value = line.strip().partition(":")
            if field in ("Installed", "Candidate"):
                text = value.strip()
                current[field.lower()] = None if text in ("(none)", "") else text
        return result


APT_CHANGES_RE = re.compile(
    r"^(\d+) upgraded, (\d+) newly installed, (\d+) to remove and (\d+) not upgraded\.$"
)


class AptSimulate(FactBase[dict[str, int]]):
    """Counts from ``apt-get -s <command>``, so ``apt.upgrade`` can tell when it is a no-op."""

    def requires_command(self, command: str) -> str:
        return "apt-get"

    def command(self, command: str) -> str:
        return f"LC_ALL=C apt-get -s {command} 2>/dev/null || true"

    def default(self) -> dict[str, Any]:
        return {}

    def process(self, output: list[str]) -> dict[str, int]:
        for line in output:
            match = APT_CHANGES_RE.match(line.strip())
            if match:
                upgraded, installed, removed, held = (int(g) for g in match.groups())
                return {
                    "upgraded": upgraded,
                    "newly_installed": installed,
                    "removed": removed,
                    "not_upgraded": held,
                }
        return {}
