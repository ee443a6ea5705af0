"""Facts about SysV-style services, for hosts where systemd is not running.

A service's state is the exit code of its ``status`` action, read as the LSB init-script
convention defines: 0 running, 1-3 not running, anything else unknown.
"""

from __future__ import annotations

import re
import shlex

from agent.engine.fact import FactBase, FactError

SERVICE_NAME = re.compile(r"^[A-Za-z0-9_.@:+-]+$")


def check_service_name(service: str) -> str:
    """Service names end up in paths and globs; refuse anything that is not a plain name."""
    if not SERVICE_NAME.match(service):
        raise ValueError(f"invalid service name {service!r}")
    return service


def _lsb_status(code: int) -> bool | None:
    if code == 0:
        return True
    if 1 <= code <= 3:
        return False
    return None


class ServiceStatus(FactBase[bool]):
    """True if running, False if stopped, None if unknown or no such service."""

    def command(self, service: str) -> str:
        name = shlex.quote(check_service_name(service))
        return (
            f"if command -v service >/dev/null 2>&1; then service {name} status >/dev/null 2>&1;"
            f" elif test -x /etc/init.d/{name}; then /etc/init.d/{name} status >/dev/null 2>&1;"
            " else (exit 4); fi; echo \"status=$?\""
        )

    def process(self, output: list[str]) -> bool | None:
        for line in output:
            match = re.match(r"^status=(\d+)$", line.strip())
            if match:
                return _lsb_status(int(match.group(1)))
        raise FactError(f"sysvinit.ServiceStatus: unexpected output {output!r}")


class InitdStatus(FactBase[dict[str, bool | None]]):
    """Status of every LSB script in /etc/init.d (pyinfra's fact); prefer ServiceStatus."""

    def command(self) -> str:
        return (
            "for SERVICE in $(ls /etc/init.d/ 2>/dev/null); do"
            ' if grep -q "### BEGIN INIT INFO" "/etc/init.d/$SERVICE" 2>/dev/null; then'
            ' "/etc/init.d/$SERVICE" status >/dev/null 2>&1; echo "$SERVICE=$?"; fi;'
            " done"
        )

    def default(self) -> dict[str, bool | None]:
        return {}

    def process(self, output: list[str]) -> dict[str, bool | None]:
        services: dict[str, bool | None] = {}
        for line in output:
            match = re.match(r"^([A-Za-z0-9_.@:+-]+)=(\d+)$", line.strip())
            if match:
                services[match.group(1)] = _lsb_status(int(match.group(2)))
        return services


class StartLinks(FactBase[list[str]]):
    """The /etc/rcN.d start links of a service: non-empty means it is enabled at boot."""

    def command(self, service: str) -> str:
        name = check_service_name(service)
        pattern = shlex.quote(f"S[0-9][0-9]{name}")
        return (
            f"find /etc/rc0.d /etc/rc1.d /etc/rc2.d /etc/rc3.d /etc/rc4.d /etc/rc5.d "
            f"/etc/rc6.d /etc/rcS.d -maxdepth 1 -name {pattern} 2>/dev/null || true"
        )

    def default(self) -> list[str]:
        return []

    def process(self, output: list[str]) -> list[str]:
        return sorted(line.strip() for line in output if line.strip())
