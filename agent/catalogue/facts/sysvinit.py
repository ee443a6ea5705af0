"""Facts about SysV-style services, for hosts where systemd is not running.

A service's state is the exit code of its ``status`` action, read as the LSB init-script
convention defines: 0 running, 1-3 not running, anything else unknown. Whether it starts at
boot is whether it has start links in the runlevel directories.
"""

from __future__ import annotations

import re

from agent.engine.command import QuoteString, StringCommand
from agent.engine.fact import FactBase

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


class InitdStatus(FactBase[dict[str, bool | None]]):
    """``{script: running}`` for every LSB script (one with an ``### BEGIN INIT INFO``
    block) in /etc/init.d, from its ``status`` action, as pyinfra's fact: what
    sysvinit.service decides from.

    pyinfra's parser drops scripts whose names hold a ``.`` or ``_`` (``hwclock.sh``), so a
    service of that name always looks stopped there; this one keeps them.
    """

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


# The runlevel directories links live in: /etc/rcN.d, or /etc/rc.d/rcN.d (Red Hat's layout,
# where /etc/rcN.d are links to those directories), as an extended regular expression.
_RUNLEVEL_DIR = r"/etc/(rc\.d/)?rc[0-6Ss]\.d/"


def _ere_literal(name: str) -> str:
    # check_service_name leaves `.` and `+` as the only characters special to grep -E.
    return name.replace(".", r"\.").replace("+", r"\+")


class InitdLinks(FactBase[list[str]]):
    """A service's start (S) and kill (K) links in the runlevel directories, sorted.

    Found as pyinfra's sysvinit.service looks for start links (``find /etc`` on the glob
    ``/etc/rc*.d/S*<name>``), then kept only where the whole name after the priority is the
    service's: the glob alone also takes ``S01anacron`` for ``cron``, and disabling cron
    would remove anacron's link.
    """

    def command(self, service: str) -> str:
        name = check_service_name(service)
        exact = f"^{_RUNLEVEL_DIR}[SK][0-9]*{_ere_literal(name)}$"
        return StringCommand(
            "find", "/etc", "-type", "l", "-path", QuoteString(f"/etc/rc*.d/[SK]*{name}"),
            "|", "grep", "-E", QuoteString(exact), "||", "true",
        ).get_raw_value()

    def default(self) -> list[str]:
        return []

    def process(self, output: list[str]) -> list[str]:
        return sorted(line.strip() for line in output if line.strip())
