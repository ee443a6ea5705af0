"""Facts about systemd units, used only where systemd is actually running (PID 1)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from agent.engine.command import QuoteString, StringCommand
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


UNIT_SUFFIXES = (".service", ".socket", ".device", ".mount", ".automount", ".swap", ".target",
                 ".path", ".timer", ".slice", ".scope")
_UNIT_NAME = re.compile(r"[A-Za-z0-9:_.\\@-]+\.(?:" + "|".join(s[1:] for s in UNIT_SUFFIXES) + ")")


def systemctl(user_mode: bool = False, machine: str | None = None,
              user_name: str | None = None) -> StringCommand:
    """The systemctl that reaches the manager deploy code asked for: the system's, a user's
    (`--user`), or another machine's or user's through `--machine`."""
    bits = ["systemctl", "--user"] if user_mode else ["systemctl"]
    if machine is not None:
        bits.append(f"--machine={user_name}@{machine}" if user_name else f"--machine={machine}")
    elif user_name is not None:
        bits.append(f"--machine={user_name}@.host")
    return StringCommand(*bits)


class SystemdStatus(FactBase[dict[str, bool]]):
    """Units and whether each is up, from one `systemctl show`, shaped like pyinfra's:
    ``{"ssh.service": True, "apt-daily.timer": False}``."""

    state_key = "SubState"
    state_values: tuple[str, ...] = ("running", "waiting", "exited", "listening", "mounted")

    def requires_command(self, **kwargs: object) -> str:
        return "systemctl"

    def default(self) -> dict[str, bool]:
        return {}

    def command(self, user_mode: bool = False, machine: str | None = None,
                user_name: str | None = None,
                services: str | Iterable[str] | None = None) -> str:
        if services is None:
            names = ["*"]
        elif isinstance(services, str):
            names = [services]
        else:
            names = list(services)
        show = StringCommand(systemctl(user_mode, machine, user_name), "show", "--all",
                             "--property", "Id", "--property", self.state_key,
                             *(QuoteString(n) for n in names))
        if user_mode:
            # A user manager may not exist before the deploy makes the user: not an error.
            return f"( {show.get_raw_value()} 2>/dev/null || true )"
        return show.get_raw_value()

    def process(self, output: list[str]) -> dict[str, bool]:
        units: dict[str, bool] = {}
        unit = None
        for line in output:
            key, sep, value = line.strip().partition("=")
            if not sep:
                unit = None
            elif key == "Id" and _UNIT_NAME.match(value):
                unit = value
            elif key == self.state_key and unit:
                units[unit] = value in self.state_values
        return units


class SystemdEnabled(SystemdStatus):
    """Units and whether each starts at boot, as pyinfra's: ``enabled`` or ``static``."""

    state_key = "UnitFileState"
    state_values = ("enabled", "static")
