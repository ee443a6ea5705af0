"""sysvinit operations: services run by their /etc/init.d scripts, and the runlevel links
(/etc/rcN.d) that start them at boot."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from typing import Any

from agent.catalogue.facts.server import LinuxDistribution
from agent.catalogue.facts.sysvinit import InitdLinks, InitdStatus, check_service_name
from agent.catalogue.operations import files
from agent.catalogue.operations.util.service import ServiceWanted, handle_service_control
from agent.engine.command import Commands, QuoteString, StringCommand
from agent.engine.context import host
from agent.engine.operation import operation
from agent.engine.operation_errors import OperationValueError

# LinuxDistribution names (agent/catalogue/facts/server/_machine.py) of the distributions whose
# own tool sets up a script's boot links. pyinfra lists "Red Hat Enterprise Linux", a name its
# fact never gives (RHEL is "RedHat" there too), so RHEL hosts are listed here by both.
_UPDATE_RC_D = ("Debian", "Ubuntu")
_CHKCONFIG = ("CentOS", "Fedora", "Red Hat Enterprise Linux", "RedHat")
_RC_UPDATE = ("Gentoo",)
_RUNLEVELS = "0123456Ss"


def _script_name(service: Any, op: str) -> str:
    try:
        if isinstance(service, str):
            return check_service_name(service)
    except ValueError:
        pass
    raise OperationValueError(
        f"invalid service name {service!r}: sysvinit.{op} needs the name of a script in "
        "/etc/init.d, e.g. service='ssh'"
    )


def _boot_links(name: str, enabled: bool) -> Commands:
    """Start links added by the distribution's own tool, or removed one by one.

    A script left with only kill links (as disabling leaves it) is one `update-rc.d
    defaults` does not touch, so those go first: pyinfra runs `defaults` alone, which then
    changes nothing on every run.
    """
    links = host.get_fact(InitdLinks, service=name) or []
    starts = [link for link in links if posixpath.basename(link).startswith("S")]
    if not enabled:
        for link in starts:
            yield StringCommand("rm", "-f", QuoteString(link))
        if not starts:
            host.noop(f"service {name} is disabled")
        return
    if starts:
        host.noop(f"service {name} is enabled")
        return
    distro = (host.get_fact(LinuxDistribution) or {}).get("name")
    if distro in _UPDATE_RC_D:
        if links:
            yield StringCommand("update-rc.d", "-f", QuoteString(name), "remove")
        yield StringCommand("update-rc.d", QuoteString(name), "defaults")
    elif distro in _CHKCONFIG:
        yield StringCommand("chkconfig", QuoteString(name), "--add")
        yield StringCommand("chkconfig", QuoteString(name), "on")
    elif distro in _RC_UPDATE:
        yield StringCommand("rc-update", "add", QuoteString(name), "default")
    else:
        host.noop(
            f"service {name} has no start links, and on {distro or 'this distribution'} "
            "there is no tool known to add them: sysvinit.enable makes them"
        )


@operation()
def service(
    service: str,
    running: bool | None = True,
    restarted: bool = False,
    reloaded: bool = False,
    enabled: bool | None = None,
    command: str | None = None,
) -> Commands:
    """Keep an /etc/init.d service running or stopped, restart or reload it, run one of its
    actions (``command``), and set whether it starts at boot.

    Whether it runs is its script's ``status`` answer (the InitdStatus fact); ``enabled`` is
    read from its start links, and set with update-rc.d (Debian, Ubuntu), chkconfig (Red Hat
    family) or rc-update (Gentoo); elsewhere sysvinit.enable makes the links.
    """
    name = _script_name(service, "service")

    def control(action: str) -> StringCommand:
        return StringCommand(QuoteString(f"/etc/init.d/{name}"), action)

    statuses = host.get_fact(InitdStatus) or {}
    wanted = ServiceWanted(running, restarted, reloaded, command, enabled)
    yield from handle_service_control(name, statuses.get(name), control, wanted)
    if isinstance(enabled, bool):
        yield from _boot_links(name, enabled)


def _priority(value: Any, argument: str) -> str:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not text.isdigit():
        raise OperationValueError(
            f"sysvinit.enable: {argument} must be a number such as 20, got {value!r}"
        )
    return text


def _levels(value: Any, argument: str) -> list[str]:
    levels = [value] if isinstance(value, int) else value
    if isinstance(levels, Iterable):
        items = list(levels)
        found = [str(level) for level in items]
        if not any(isinstance(level, bool) for level in items) and all(
            len(level) == 1 and level in _RUNLEVELS for level in found
        ):
            return found
    raise OperationValueError(
        f"sysvinit.enable: {argument} must list runlevels (0-6 or S), e.g. (2, 3, 4, 5), "
        f"got {value!r}"
    )


@operation()
def enable(
    service: str,
    start_priority: int | str = 20,
    stop_priority: int | str = 80,
    start_levels: Iterable[int | str] = (2, 3, 4, 5),
    stop_levels: Iterable[int | str] = (0, 1, 6),
) -> Commands:
    """Make a script's runlevel links by hand: ``/etc/rcN.d/S<start_priority><service>`` in
    each start level and ``K<stop_priority>`` in each stop level, for distributions
    whose own tool sysvinit.service cannot use, or to choose the levels and order."""
    name = _script_name(service, "enable")
    start = _priority(start_priority, "start_priority")
    stop = _priority(stop_priority, "stop_priority")
    links = [f"/etc/rc{level}.d/S{start}{name}" for level in _levels(start_levels, "start_levels")]
    links += [f"/etc/rc{level}.d/K{stop}{name}" for level in _levels(stop_levels, "stop_levels")]
    for link in links:
        yield from files.link._inner(path=link, target=f"/etc/init.d/{name}")
