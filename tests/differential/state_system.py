"""State readers for the system settings (tests/differential/test_system.py): what the
hostname, timezone, locale and limits operations leave on a bed host, read inside it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tests.testbed import Host


def texts(host: Host, paths: Iterable[str]) -> dict[str, str | None]:
    """Each file's text (None: no such file), so a case's diff shows the lines that differ."""
    return {path: host.read_text(path) for path in paths}


def hostname(host: Host) -> dict[str, Any]:
    """The live hostname (the host's own UTS namespace) and the file that keeps it."""
    return {
        "hostname": host.run(["hostname"], check=True).stdout.strip(),
        "/etc/hostname": host.read_text("/etc/hostname"),
    }


def timezone(host: Host) -> dict[str, Any]:
    """Where /etc/localtime points (not resolved: the link the operation made) and
    /etc/timezone."""
    link = host.run(["readlink", "/etc/localtime"]).stdout.strip() or None
    return {"/etc/localtime": link, "/etc/timezone": host.read_text("/etc/timezone")}


def locales(host: Host) -> dict[str, Any]:
    """The locales built (`locale -a`) and the lines /etc/locale.gen enables."""
    built = host.run(["locale", "-a"], check=True).stdout.split()
    enabled = [line for line in (host.read_text("/etc/locale.gen") or "").splitlines()
               if line.strip() and not line.startswith("#")]
    return {"built": sorted(built), "enabled": enabled}
