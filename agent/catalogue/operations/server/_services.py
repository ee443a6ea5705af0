"""server.service: keep a service in the wanted state, whichever init system the host has.

The init system is looked for in pyinfra's order (systemd, OpenRC, Upstart, runit, BSD rc.d,
SysV init) and the service handed to that family's operation: systemd.service or
sysvinit.service here, the others are not implemented yet and fail naming themselves.
"""

from __future__ import annotations

from agent.catalogue.facts.files import Directory, Link
from agent.catalogue.facts.server import Os, Which
from agent.catalogue.facts.systemd import SystemdRunning
from agent.catalogue.operations import systemd, sysvinit
from agent.engine.command import Commands
from agent.engine.context import host
from agent.engine.operation import operation
from agent.engine.operation_errors import OperationError, OperationValueError

__all__ = ["service"]

_BSDS = ("FreeBSD", "OpenBSD", "NetBSD", "DragonFly")
SYSTEMD = "systemd"
SYSVINIT = "SysV init"


def _init_system() -> str:
    """The name of the host's init system, found from its tools as pyinfra does.

    One difference: an installed systemctl counts only when systemd runs (PID 1). Debian
    containers and minimal hosts often have systemctl without systemd; pyinfra picks systemd
    there and every systemctl command fails, while their init.d scripts work.
    """
    has_systemctl = bool(host.get_fact(Which, command="systemctl"))
    if has_systemctl and host.get_fact(SystemdRunning):
        return SYSTEMD
    for tool, name in (("rc-service", "OpenRC"), ("initctl", "Upstart"), ("sv", "runit")):
        if host.get_fact(Which, command=tool):
            return name
    if host.get_fact(Os) in _BSDS and host.get_fact(Directory, path="/etc/rc.d"):
        return "BSD rc.d"
    if (
        host.get_fact(Which, command="service")
        or host.get_fact(Link, path="/etc/init.d")
        or host.get_fact(Directory, path="/etc/init.d")
    ):
        return SYSVINIT
    installed = " (systemctl is installed, but systemd is not running)" if has_systemctl else ""
    raise OperationError(
        "server.service: no init system found: no running systemd, rc-service, initctl, sv, "
        f"/etc/rc.d or /etc/init.d{installed}"
    )


@operation()
def service(
    service: str,
    running: bool | None = True,
    restarted: bool = False,
    reloaded: bool = False,
    command: str | None = None,
    enabled: bool | None = None,
) -> Commands:
    """Keep a service running or stopped, restart or reload it, run one of its actions and
    set whether it starts at boot, through the host's own init system."""
    if not isinstance(service, str) or not service:
        raise OperationValueError(
            f"server.service needs a service name, e.g. service='nginx', got {service!r}"
        )
    wanted = {"service": service, "running": running, "restarted": restarted,
              "reloaded": reloaded, "command": command, "enabled": enabled}
    init = _init_system()
    if init == SYSTEMD:
        yield from systemd.service._inner(**wanted)
    elif init == SYSVINIT:
        yield from sysvinit.service._inner(**wanted)
    else:
        raise OperationError(
            f"server.service: this host's init system is {init}, which pullinfra cannot "
            f"manage yet; only systemd and SysV init (/etc/init.d) services are supported"
        )
