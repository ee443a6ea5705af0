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


class _UnitState(FactBase[bool]):
    """Whether ``systemctl <query>`` puts a unit in one of ``states``: UnitActive and
    UnitEnabled ask the same way and differ only in the question."""

    query = ""
    states: tuple[str, ...] = ()

    def command(self, service: str) -> str:
        return f"systemctl {self.query} {shlex.quote(unit_name(service))} 2>/dev/null || true"

    def default(self) -> bool:
        return False

    def process(self, output: list[str]) -> bool:
        return output[0].strip() in self.states


class UnitActive(_UnitState):
    """Whether a unit is active; pyinfra's SystemdStatus reports all units, this one only."""

    query = "is-active"
    states = ("active", "reloading", "activating")


class UnitEnabled(_UnitState):
    """Whether a unit starts at boot (``enabled`` / ``enabled-runtime``/``alias``)."""

    query = "is-enabled"
    states = ("enabled", "enabled-runtime", "alias", "static", "indirect")
