"""server.service: keep a service in the wanted state, whichever init system the host has.

Services go through systemctl only where systemd really runs (PID 1); elsewhere through
``service`` and the /etc/init.d scripts, as in containers and minimal hosts.
"""

from __future__ import annotations

from agent.catalogue.facts.files import Directory
from agent.catalogue.facts.server import Which
from agent.catalogue.facts.systemd import SystemdRunning, UnitActive, UnitEnabled, unit_name
from agent.catalogue.facts.sysvinit import ServiceStatus, StartLinks, check_service_name
from agent.catalogue.operations.util.service import (
    ServiceWanted,
    handle_service_control,
    handle_unit_enablement,
)
from agent.engine.command import Commands, QuoteString, StringCommand
from agent.engine.context import host
from agent.engine.operation import operation
from agent.engine.operation_errors import OperationError, OperationValueError

__all__ = ["service"]


def _sysvinit_service(service: str, wanted: ServiceWanted) -> Commands:
    use_service = bool(host.get_fact(Which, command="service"))

    def control(action: str) -> StringCommand:
        if use_service:
            return StringCommand("service", QuoteString(service), QuoteString(action))
        return StringCommand(QuoteString(f"/etc/init.d/{service}"), QuoteString(action))

    is_running = host.get_fact(ServiceStatus, service=service)
    yield from handle_service_control(service, is_running, control, wanted)
    enabled = wanted.enabled
    if enabled is None:
        return
    links = host.get_fact(StartLinks, service=service) or []
    if enabled and not links:
        if host.get_fact(Which, command="update-rc.d"):
            yield StringCommand("update-rc.d", QuoteString(service), "defaults")
            yield StringCommand("update-rc.d", QuoteString(service), "enable")
        elif host.get_fact(Which, command="chkconfig"):
            yield StringCommand("chkconfig", "--add", QuoteString(service))
            yield StringCommand("chkconfig", QuoteString(service), "on")
        else:
            raise OperationError(
                f"cannot enable {service}: neither update-rc.d nor chkconfig is installed"
            )
    elif enabled and links:
        host.noop(f"service {service} is enabled")
    elif not enabled and links:
        if host.get_fact(Which, command="update-rc.d"):
            yield StringCommand("update-rc.d", QuoteString(service), "disable")
        else:
            for link in links:
                yield StringCommand("rm", "-f", QuoteString(link))
    else:
        host.noop(f"service {service} is disabled")


def _systemd_service(service: str, wanted: ServiceWanted) -> Commands:
    unit = unit_name(service)

    def control(action: str) -> StringCommand:
        return StringCommand("systemctl", QuoteString(action), QuoteString(unit))

    is_running = host.get_fact(UnitActive, service=service)
    yield from handle_service_control(unit, is_running, control, wanted)
    enabled = wanted.enabled
    if enabled is None:
        return
    is_enabled = host.get_fact(UnitEnabled, service=service)
    yield from handle_unit_enablement(unit, is_enabled, enabled, control)


@operation()
def service(
    service: str,
    running: bool | None = True,
    restarted: bool = False,
    reloaded: bool = False,
    command: str | None = None,
    enabled: bool | None = None,
) -> Commands:
    """Keep a service running or stopped, optionally restart/reload it and set boot start.

    The init system is chosen on the host: systemd if it is PID 1, else SysV ``service`` /
    /etc/init.d (where ``enabled`` uses update-rc.d, or chkconfig).
    """
    try:
        check_service_name(service)
    except ValueError as exc:
        raise OperationValueError(str(exc)) from None
    wanted = ServiceWanted(running, restarted, reloaded, command, enabled)
    if host.get_fact(SystemdRunning) and host.get_fact(Which, command="systemctl"):
        yield from _systemd_service(service, wanted)
    elif host.get_fact(Which, command="service") or host.get_fact(
        Directory, path="/etc/init.d"
    ):
        yield from _sysvinit_service(service, wanted)
    else:
        raise OperationError(
            "no init system found: systemd is not running and there is no `service` command "
            "or /etc/init.d"
        )
