"""Facts about the machine itself: kernel, architecture, distribution, clock, tools on PATH.

Os, Arch, Hostname and LinuxDistribution are immutable: deploy code may branch on them during
prepare without the engine warning, because no operation in a run can change them.
"""

from __future__ import annotations

import shlex
from datetime import datetime
from typing import Any

from agent.engine.fact import FactBase, FactError

__all__ = [
    "ISO_DATE_FORMAT", "Arch", "Command", "Date", "Hostname", "Kernel", "KernelVersion",
    "LinuxDistribution", "LinuxName", "LsbRelease", "Os", "OsRelease", "OsVersion", "Path",
    "TmpDir", "Which", "int_or_none", "parse_os_release",
]

ISO_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


def _first_line(output: list[str]) -> str:
    return output[0].strip()


class _Uname(FactBase[str]):
    """One field of ``uname``, which every Unix host has: the facts below differ only in its
    option."""

    option = ""

    def command(self) -> str:
        return f"uname {self.option}"

    def process(self, output: list[str]) -> str:
        return _first_line(output)


class Os(_Uname):
    """The kernel name, e.g. ``Linux``; pyinfra calls this the OS."""

    immutable = True
    option = "-s"


class Kernel(Os):
    """Same value as Os, kept because pyinfra offers both names."""


class KernelVersion(_Uname):
    option = "-r"


class OsVersion(KernelVersion):
    """Same value as KernelVersion: pyinfra's older name for it."""


class Arch(_Uname):
    """The machine hardware name, e.g. ``x86_64``."""

    immutable = True
    option = "-m"


class Hostname(_Uname):
    immutable = True
    option = "-n"


class Command(FactBase[str]):
    """Raw output of any command: an escape hatch for deploy code, so it is never cached."""

    cacheable = False

    def command(self, command: str) -> str:
        return command

    def process(self, output: list[str]) -> str:
        return "\n".join(output)


class Which(FactBase[str]):
    """Path of a tool on the host's PATH, or None; `|| true` keeps a miss from failing the host."""

    def command(self, command: str) -> str:
        return f"command -v {shlex.quote(command)} || true"

    def process(self, output: list[str]) -> str | None:
        return _first_line(output) or None


class Path(FactBase[str]):
    """The login shell's PATH, as commands the engine runs see it."""

    def command(self) -> str:
        return "echo $PATH"


class TmpDir(FactBase[str]):
    """The first of $TMPDIR, $TMP, $TEMP (POSIX's order) that names a writable directory, or
    "" when none does: the caller then picks its own default, as pyinfra's callers use /tmp."""

    def command(self) -> str:
        return (
            'if [ -n "$TMPDIR" ] && [ -d "$TMPDIR" ] && [ -w "$TMPDIR" ]; then echo "$TMPDIR"; '
            'elif [ -n "$TMP" ] && [ -d "$TMP" ] && [ -w "$TMP" ]; then echo "$TMP"; '
            'elif [ -n "$TEMP" ] && [ -d "$TEMP" ] && [ -w "$TEMP" ]; then echo "$TEMP"; '
            'else echo ""; fi'
        )


class Date(FactBase[datetime]):
    """The host's clock (timezone-aware), so cache ages are measured on the host, not here."""

    cacheable = False

    def command(self) -> str:
        return f"date +'{ISO_DATE_FORMAT}'"

    def process(self, output: list[str]) -> datetime:
        text = _first_line(output)
        try:
            return datetime.strptime(text, ISO_DATE_FORMAT)
        except ValueError as exc:
            raise FactError(f"server.Date: cannot parse date output {text!r}") from exc


# os-release IDs whose pyinfra display name differs from a plain capitalisation.
_PRETTY_NAMES = {
    "alpine": "Alpine",
    "centos": "CentOS",
    "debian": "Debian",
    "fedora": "Fedora",
    "gentoo": "Gentoo",
    "opensuse": "openSUSE",
    "rhel": "RedHat",
    "ubuntu": "Ubuntu",
}


def int_or_none(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def parse_os_release(lines: list[str]) -> dict[str, str]:
    """KEY=value pairs of os-release(5); values may be shell-quoted."""
    values: dict[str, str] = {}
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        try:
            parts = shlex.split(value)
        except ValueError:
            parts = [value.strip("\"'")]
        values[key.strip()] = " ".join(parts)
    return values


class LinuxDistribution(FactBase[dict[str, Any]]):
    """Distribution name and version from os-release, shaped like pyinfra's fact.

    ``{"name": "Debian", "major": 12, "minor": None, "release_meta": {"ID": "debian", ...}}``
    """

    immutable = True

    def command(self) -> str:
        return "cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null || true"

    def default(self) -> dict[str, Any]:
        return {"name": None, "major": None, "minor": None, "release_meta": {}}

    def process(self, output: list[str]) -> dict[str, Any]:
        meta = parse_os_release(output)
        if not meta:
            return self.default()
        if "VERSION_CODENAME" in meta:
            meta.setdefault("CODENAME", meta["VERSION_CODENAME"])
        distro_id = meta.get("ID", "").lower()
        name = _PRETTY_NAMES.get(distro_id) or meta.get("NAME") or None
        version = meta.get("VERSION_ID", "")
        pieces = version.split(".") if version else []
        return {
            "name": name,
            "major": int_or_none(pieces[0]) if pieces else None,
            "minor": int_or_none(pieces[1]) if len(pieces) > 1 else None,
            "release_meta": meta,
        }


class LinuxName(FactBase[str]):
    """Just LinuxDistribution's name (``Debian``); pyinfra's short fact of it."""

    immutable = True

    def command(self) -> str:
        return LinuxDistribution().command()

    def process(self, output: list[str]) -> str | None:
        return LinuxDistribution().process(output)["name"]


class LsbRelease(FactBase[dict[str, str]]):
    """``lsb_release -ca`` as a dict keyed by the label's last word, lower-cased:
    ``{"id": "Debian", "description": ..., "release": "12", "codename": "bookworm"}``.
    None on hosts without lsb_release."""

    def command(self) -> str:
        return "lsb_release -ca"

    def requires_command(self) -> str:
        return "lsb_release"

    def process(self, output: list[str]) -> dict[str, str]:
        items: dict[str, str] = {}
        for line in output:
            label, colon, value = line.partition(":")
            if not colon:
                continue
            # "Distributor ID" is keyed "id", as pyinfra keys it.
            key = label.strip().lower().split(" ")[-1]
            items[key] = value.strip()
        return items


class OsRelease(FactBase[dict[str, str]]):
    """/etc/os-release with lower-cased keys and unquoted values:
    ``{"id": "debian", "version_id": "12", "pretty_name": ..., ...}``."""

    def command(self) -> str:
        return "cat /etc/os-release"

    def process(self, output: list[str]) -> dict[str, str]:
        return {key.lower(): value for key, value in parse_os_release(output).items()}
