"""Readers of a bed host's state for differential cases: JSON-able dicts, read from the host
itself (Host.run / read_file / stat, never over SSH), so neither tool's facts judge the result.

Each reader takes the names it should look at and returns {name: value}; a name that does not
exist on the host maps to None, so "absent on both" compares equal and "absent on one" shows.
"""

from __future__ import annotations

import hashlib
import shlex
import stat as stat_module
from collections.abc import Iterable

from tests.testbed import Host

_FILE_TYPES = {
    stat_module.S_IFREG: "file",
    stat_module.S_IFDIR: "directory",
    stat_module.S_IFLNK: "link",
    stat_module.S_IFIFO: "fifo",
    stat_module.S_IFSOCK: "socket",
    stat_module.S_IFCHR: "char device",
    stat_module.S_IFBLK: "block device",
}


def _id_names(host: Host, db: str) -> dict[int, str]:
    """uid -> user name (db="/etc/passwd") or gid -> group name ("/etc/group") on the host."""
    names = {}
    for line in (host.read_text(db) or "").splitlines():
        fields = line.split(":")
        if len(fields) > 2 and fields[2].isdigit():
            names.setdefault(int(fields[2]), fields[0])
    return names


def _passwd_entry(host: Host, name: str) -> list[str] | None:
    for line in (host.read_text("/etc/passwd") or "").splitlines():
        fields = line.split(":")
        if fields[0] == name and len(fields) == 7:
            return fields
    return None


def users(host: Host, names: Iterable[str]) -> dict[str, dict | None]:
    """Account, groups, shell, home and authorized_keys of each user (None: no such user)."""
    group_names = _id_names(host, "/etc/group")
    found: dict[str, dict | None] = {}
    for name in names:
        entry = _passwd_entry(host, name)
        if entry is None:
            found[name] = None
            continue
        _, _, uid, gid, _, home, shell = entry
        groups = host.run(["id", "-Gn", name]).stdout.split()
        found[name] = {
            "uid": int(uid),
            "gid": int(gid),
            "primary_group": group_names.get(int(gid)),
            "groups": sorted(groups),
            "shell": shell,
            "home": home,
            "home_exists": host.stat(home) is not None,
            "authorized_keys": host.read_text(f"{home}/.ssh/authorized_keys"),
        }
    return found


def crontab(host: Host, user: str) -> str | None:
    """The user's crontab as `crontab -l` shows it (without cron's own header); None if none."""
    proc = host.run(["crontab", "-l", "-u", user])
    return proc.stdout if proc.returncode == 0 else None


def sysctl(host: Host, keys: Iterable[str]) -> dict[str, str | None]:
    """Live kernel values (net.* keys are the host's own network namespace's)."""
    found: dict[str, str | None] = {}
    for key in keys:
        proc = host.run(["sysctl", "-n", key])
        found[key] = " ".join(proc.stdout.split()) if proc.returncode == 0 else None
    return found


def _systemd_running(host: Host) -> bool:
    return host.stat("/run/systemd/system") is not None


def services(host: Host, names: Iterable[str]) -> dict[str, dict[str, bool]]:
    """Whether each service runs and starts at boot, as the host's init system tells it.

    Under systemd that is systemctl's word; elsewhere (the bed's plain hosts) it is the init.d
    script's `status` and a start link in any of runlevels 2-5.
    """
    found = {}
    for name in names:
        if _systemd_running(host):
            running = host.run(["systemctl", "is-active", "--quiet", name]).returncode == 0
            enabled = host.run(["systemctl", "is-enabled", "--quiet", name]).returncode == 0
        else:
            running = host.run(["service", name, "status"]).returncode == 0
            quoted = shlex.quote(name)
            enabled = host.run(f"ls /etc/rc[2345].d/S[0-9][0-9]{quoted}").returncode == 0
        found[name] = {"running": running, "enabled": enabled}
    return found


def files(host: Host, paths: Iterable[str]) -> dict[str, dict]:
    """Whether each path exists, and its type, mode, owner, group, content hash, link target.

    Links are not followed: a link's own owner and target are what operations set.
    """
    user_names = _id_names(host, "/etc/passwd")
    group_names = _id_names(host, "/etc/group")
    found: dict[str, dict] = {}
    for path in paths:
        st = host.stat(path, follow_symlinks=False)
        if st is None:
            found[path] = {"exists": False}
            continue
        kind = _FILE_TYPES.get(stat_module.S_IFMT(st.st_mode), "other")
        entry = {
            "exists": True,
            "type": kind,
            "mode": oct(stat_module.S_IMODE(st.st_mode)),
            "owner": user_names.get(st.st_uid, st.st_uid),
            "group": group_names.get(st.st_gid, st.st_gid),
            "sha256": None,
            "link_target": None,
        }
        if kind == "file":
            entry["sha256"] = hashlib.sha256(host.read_file(path) or b"").hexdigest()
        elif kind == "link":
            entry["link_target"] = host.run(["readlink", "--", path]).stdout.rstrip("\n")
        found[path] = entry
    return found


def groups(host: Host, names: Iterable[str]) -> dict[str, dict | None]:
    """gid and members of each group (None: no such group)."""
    entries = {}
    for line in (host.read_text("/etc/group") or "").splitlines():
        fields = line.split(":")
        if len(fields) == 4:
            entries.setdefault(fields[0], fields)
    found: dict[str, dict | None] = {}
    for name in names:
        entry = entries.get(name)
        found[name] = None if entry is None else {
            "gid": int(entry[2]), "members": sorted(filter(None, entry[3].split(",")))}
    return found


def packages(host: Host, names: Iterable[str]) -> dict[str, str | None]:
    """The installed version of each package, as dpkg records it (None: not installed)."""
    return {name: host.package_version(name) for name in names}
