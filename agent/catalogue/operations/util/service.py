"""What every init system's service operation shares: the wanted state, the start/stop/
restart/reload decisions made from whether the service runs now, and enable/disable."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from agent.engine.command import Commands, StringCommand
from agent.engine.context import host

Control = Callable[[str], StringCommand]


@dataclass(frozen=True)
class ServiceWanted:
    """server.service's arguments past the name, handed as one to whichever init system the
    host has (systemd or SysV), so that both read them the same way."""

    running: bool | None
    restarted: bool
    reloaded: bool
    command: str | None
    enabled: bool | None


def handle_service_control(
    name: str, is_running: bool | None, control: Control, wanted: ServiceWanted
) -> Commands:
    """Start/stop towards ``running``; restart/reload only a service that was already up.

    As in pyinfra, ``restarted``/``reloaded`` fire whenever the service is running, so deploy
    code pairs them with ``_if=other_op.did_change``.
    """
    running = wanted.running
    if running is False:
        if is_running:
            yield control("stop")
        else:
            host.noop(f"service {name} is stopped")
    if running is True:
        if not is_running:
            yield control("start")
        else:
            host.noop(f"service {name} is running")
    if wanted.restarted and is_running:
        yield control("restart")
    if wanted.reloaded and is_running:
        yield control("reload")
    if wanted.command:
        yield control(wanted.command)


def handle_unit_enablement(unit: str, is_enabled: bool, enabled: bool,
                           control: Control) -> Commands:
    """Enable or disable a unit whose manager answers both with one verb (systemctl), so
    server.service on systemd and systemd.service decide it the same way."""
    if enabled and not is_enabled:
        yield control("enable")
    elif is_enabled and not enabled:
        yield control("disable")
    else:
        host.noop(f"service {unit} is {'enabled' if enabled else 'disabled'}")
