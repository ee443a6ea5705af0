"""State readers for systemd cases: what systemctl on the host itself says about units."""

from __future__ import annotations

from collections.abc import Iterable

from tests.testbed import Host


def units(host: Host, names: Iterable[str]) -> dict[str, dict[str, str]]:
    """Each unit's `is-active` and `is-enabled` answers (e.g. active/inactive/failed,
    enabled/disabled/static/masked), and whether its file changed since systemd loaded it."""
    found = {}
    for name in names:
        found[name] = {
            "active": host.run(["systemctl", "is-active", name]).stdout.strip(),
            "enabled": host.run(["systemctl", "is-enabled", name]).stdout.strip(),
            "need_daemon_reload": host.run(["systemctl", "show", "-p", "NeedDaemonReload",
                                            "--value", name]).stdout.strip(),
        }
    return found
