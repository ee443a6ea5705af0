"""Facts about systemd units, used only where systemd is actually running (PID 1)."""

from __future__ import annotations

import shlex

from agent.engine.fact import FactBase


def unit_name(service: str) -> str:
    return service if "." in service else f"{service}.service"


class SystemdRunning(FactBase[bool]):
    """Whether systemd manages this boot: /run/systemd/system exists (sd_booted(3))."""

    def command(self) -> str:
        return "test -d /run/systemd/system && echo yes || echo no"

    def default(self) -> bool:
        return False

    def process(self, output: list[str]) -> bool:
        return output[0].strip() == "yes"


class UnitActive(FactBase[bool]):
    """Whether a unit is active; pyinfra's SystemdStatus reports all units, this one only."""

    def command(self, service: str) -> str:
        return f"systemctl is-active {shlex.quote(unit_name(service))} 2>/dev/null || true"

    def default(self) -> bool:
        return False

    def process(self, output: list[str]) -> bool:
        return output[0].strip() in ("active", "reloading", "activating")


class UnitEnabled(FactBase[bool]):
    """Whether a unit starts at boot (``enabled`` / ``enabled-runtime``/``alias``)."""

    def command(self, service: str) -> str:
        return f"systemctl is-enabled {shlex.quote(unit_name(service))} 2>/dev/null || true"

    def default(self) -> bool:
        return False

    def process(self, output: list[str]) -> bool:
        return output[0].strip() in ("enabled", "enabled-runtime", "alias", "static", "indirect")
