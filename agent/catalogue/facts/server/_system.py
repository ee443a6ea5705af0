"""server facts: the system's identity and settings (timezone, locales, limits, /etc/hosts)
and its load (uptime, load average)."""

from __future__ import annotations

import re

from agent.engine.command import QuoteString, StringCommand
from agent.engine.fact import FactBase, FactError

__all__ = ["EtcHosts", "LoadAverage", "Locales", "SecurityLimits", "Timezone", "Uptime"]

ZONEINFO = "/usr/share/zoneinfo"

# `readlink -f` resolves every link, so an alias zone (UTC -> Etc/UTC) reads as its target.
_ZONE_NAME = "sed 's|.*/zoneinfo/||'"


class Timezone(FactBase[str]):
    """The zone /etc/localtime resolves to, e.g. ``Europe/Amsterdam``."""

    def command(self) -> str:
        return f"readlink -f /etc/localtime | {_ZONE_NAME}"

    def process(self, output: list[str]) -> str:
        return output[0]


class ZoneFile(FactBase[str]):
    """The zone a name in /usr/share/zoneinfo resolves to (``UTC`` gives ``Etc/UTC``), or None
    when there is no such zone: how server.timezone sees that an alias is already set, and
    refuses a zone that would leave /etc/localtime dangling. Not one of pyinfra's facts."""

    def command(self, timezone: str) -> StringCommand:
        zone = QuoteString(f"{ZONEINFO}/{timezone}")
        return StringCommand(
            "test -f", zone, "&& readlink -f", zone, "|", _ZONE_NAME, "|| true"
        )

    def process(self, output: list[str]) -> str | None:
        return output[0].strip() or None


class Locales(FactBase[list[str]]):
    """``locale -a``, with glibc's ``utf8`` spelt ``UTF-8`` as /etc/locale.gen spells it:
    ``["C", "C.UTF-8", "POSIX", "en_GB.UTF-8"]``."""

    def command(self) -> str:
        return "locale -a"

    def requires_command(self) -> str:
        return "locale"

    def default(self) -> list[str]:
        return []

    def process(self, output: list[str]) -> list[str]:
        return [line.replace("utf8", "UTF-8") for line in output]


class SecurityLimits(FactBase[list[dict[str, str]]]):
    """The entries of /etc/security/limits.conf, in file order:
    ``[{"domain": "*", "limit_type": "soft", "item": "nofile", "value": "1024"}, ...]``.

    A trailing comment is dropped; a line without exactly four fields is not an entry
    (pam_limits skips it too), where pyinfra's parser fails on it.
    """

    def command(self) -> str:
        return "! test -e /etc/security/limits.conf || cat /etc/security/limits.conf"

    def default(self) -> list[dict[str, str]]:
        return []

    def process(self, output: list[str]) -> list[dict[str, str]]:
        limits = []
        for line in output:
            fields = line.split("#", 1)[0].split()
            if len(fields) != 4:
                continue
            domain, limit_type, item, value = fields
            limits.append(
                {"domain": domain, "limit_type": limit_type, "item": item, "value": value}
            )
        return limits


class EtcHosts(FactBase[dict[str, list[str]]]):
    """A hosts file (default /etc/hosts) as address -> hostnames; an address on several lines
    gets their names merged in file order, each once. Comments and blank lines are skipped."""

    def command(self, path: str = "/etc/hosts") -> StringCommand:
        return StringCommand("cat", QuoteString(path), "2>/dev/null || true")

    def default(self) -> dict[str, list[str]]:
        return {}

    def process(self, output: list[str]) -> dict[str, list[str]]:
        entries: dict[str, list[str]] = {}
        for line in output:
            fields = line.split("#", 1)[0].split()
            if len(fields) < 2:
                continue
            names = entries.setdefault(fields[0], [])
            names.extend(name for name in dict.fromkeys(fields[1:]) if name not in names)
        return entries


class Uptime(FactBase[int]):
    """Seconds since boot: /proc/uptime on Linux, else the BSDs' and macOS's kern.boottime
    (now and boot time on two lines). One command for both, where pyinfra first reads the
    kernel name to choose."""

    cacheable = False

    def command(self) -> str:
        return (
            "if [ -r /proc/uptime ]; then cut -d. -f1 /proc/uptime; "
            "else date +%s; sysctl -n kern.boottime | awk '{print $4}' | tr -d ','; fi"
        )

    def process(self, output: list[str]) -> int:
        try:
            numbers = [int(line.strip()) for line in output if line.strip()]
        except ValueError as exc:
            raise FactError(f"server.Uptime: cannot parse {output!r}") from exc
        if len(numbers) == 2:
            return numbers[0] - numbers[1]
        if len(numbers) == 1:
            return numbers[0]
        raise FactError(f"server.Uptime: cannot parse {output!r}")


_LOAD_AVERAGES = re.compile(r"load averages?:\s*([0-9.]+)[,\s]+([0-9.]+)[,\s]+([0-9.]+)")


class LoadAverage(FactBase[dict[str, float]]):
    """Load averages over 1, 5 and 15 minutes, ``{"1": 0.12, "5": 0.21, "15": 0.22}``: from
    /proc/loadavg, or from ``uptime`` where there is no procfs; {} if neither parses."""

    cacheable = False

    def command(self) -> str:
        return "cat /proc/loadavg 2>/dev/null || uptime"

    def default(self) -> dict[str, float]:
        return {}

    def process(self, output: list[str]) -> dict[str, float]:
        for line in output:
            tokens = line.split()
            try:
                return dict(zip(("1", "5", "15"), map(float, tokens[:3]), strict=True))
            except ValueError:
                pass
            found = _LOAD_AVERAGES.search(line)
            if found:
                return dict(zip(("1", "5", "15"), map(float, found.groups()), strict=True))
        return {}
