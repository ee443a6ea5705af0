"""systemd operations: units through systemctl, for the system manager or a user's."""

from __future__ import annotations

from agent.catalogue.facts.systemd import UNIT_SUFFIXES, SystemdEnabled, SystemdStatus, systemctl
from agent.catalogue.operations.util.service import (
    ServiceWanted,
    handle_service_control,
    handle_unit_enablement,
)
from agent.engine.command import Commands, QuoteString, StringCommand
from agent.engine.context import host
from agent.engine.operation import operation
from agent.engine.operation_errors import OperationValueError


@operation(is_idempotent=False)
def daemon_reload(user_mode: bool = False, machine: str | None = None,
                  user_name: str | None = None) -> Commands:
    """Make the manager re-read unit files, every time: it cannot tell whether one changed."""
    yield StringCommand(systemctl(user_mode, machine, user_name), "daemon-reload")


@operation()
def service(
    service: str,
    running: bool | None = True,
    restarted: bool = False,
    reloaded: bool = False,
    command: str | None = None,
    enabled: bool | None = None,
    daemon_reload: bool = False,
    user_mode: bool = False,
    machine: str | None = None,
    user_name: str | None = None,
) -> Commands:
    """Keep a unit running or stopped, restart or reload it, and set whether it starts at
    boot. A name without a unit suffix means `<name>.service`, as systemctl reads it."""
    if not isinstance(service, str) or not service:
        raise OperationValueError("systemd.service needs a unit name, e.g. service='nginx'")
    unit = service if service.endswith(UNIT_SUFFIXES) else f"{service}.service"
    manager = systemctl(user_mode, machine, user_name)
    where = {"user_mode": user_mode, "machine": machine, "user_name": user_name}
    if daemon_reload:
        yield StringCommand(manager, "daemon-reload")

    def control(action: str) -> StringCommand:
        return StringCommand(manager, QuoteString(action), QuoteString(unit))

    statuses = host.get_fact(SystemdStatus, services=[unit], **where) or {}
    wanted = ServiceWanted(running, restarted, reloaded, command, enabled)
    yield from handle_service_control(unit, statuses.get(unit), control, wanted)
    if not isinstance(enabled, bool):
        return
    is_enabled = (host.get_fact(SystemdEnabled, services=[unit], **where) or {}).get(unit, False)
    yield from handle_unit_enablement(unit, is_enabled, enabled, control)
