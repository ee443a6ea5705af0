"""server facts: the kernel: settings (sysctl), loaded modules and mounted filesystems."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from agent.engine.fact import FactBase, FactError

__all__ = ["KernelModules", "Mounts", "Sysctl"]

_PLAIN_VALUES = re.compile(r"^[a-zA-Z0-9_\-\.\s]+$")


def _number_or_text(value: str) -> int | str:
    try:
        return int(value)
    except ValueError:
        return value


def _parse_values(text: str) -> Any:
    """Plain values become numbers, and a value of several words a list of them
    (`fs.inode-state` is `[44565, 360]`), so an operation compares them as numbers."""
    if not _PLAIN_VALUES.match(text):
        return text
    values = [_number_or_text(word) for word in text.split()]
    return values[0] if len(values) == 1 else values


class Sysctl(FactBase[dict[str, Any]]):
    """The given sysctl keys (all of them when `keys` is None) and their values; a key the
    kernel does not have is left out, one it has with an empty value is ""."""

    def command(self, keys: list[str] | None = None) -> str:
        if keys is None:
            return "sysctl -a 2>/dev/null || true"
        return " ".join(["sysctl", *(shlex.quote(key) for key in keys), "2>/dev/null || true"])

    def default(self) -> dict[str, Any]:
        return {}

    def process(self, output: list[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for line in output:
            separator = "=" if "=" in line else ":" if ":" in line else None
            if separator is None:
                continue
            # A key the kernel lists with an empty value (`sysctl` prints `key = `) is kept,
            # as "": it exists, and pyinfra's fact has it too.
            key, values = line.split(separator, 1)
            if key.strip() and values:
                found[key.strip()] = _parse_values(values.strip())
        return found


# The first line of the KernelModules and Mounts commands names the kernel (`uname -s`), so
# one round trip both picks the tool for that kernel and tells process() how to read it.
_KERNEL_LINE = "uname -s"


def _split_kernel(output: list[str]) -> tuple[str, list[str]]:
    if not output:
        return "", []
    return output[0].strip(), output[1:]


class KernelModules(FactBase[dict[str, dict[str, Any]]]):
    """Loaded kernel modules by name: `size`, `instances`, `state` and (when some) `depends`
    from /proc/modules on Linux; `id`, `refs`, `address` and `size` from kldstat on FreeBSD.
    A kernel without loadable modules gives `{}`."""

    def command(self) -> str:
        return (
            f"{_KERNEL_LINE}; "
            'if [ "$(uname -s)" = FreeBSD ]; then kldstat | tail +2; '
            "elif [ -f /proc/modules ]; then cat /proc/modules; fi"
        )

    def default(self) -> dict[str, dict[str, Any]]:
        return {}

    def process(self, output: list[str]) -> dict[str, dict[str, Any]]:
        kernel, lines = _split_kernel(output)
        modules: dict[str, dict[str, Any]] = {}
        for line in lines:
            fields = line.split()
            if kernel == "FreeBSD":
                if len(fields) < 5:
                    continue
                module_id, refs, address, size = fields[:4]
                modules[" ".join(fields[4:])] = {
                    "address": address, "id": module_id, "refs": refs, "size": size,
                }
                continue
            if len(fields) < 5:
                continue
            name, size, instances, depends, state = fields[:5]
            module: dict[str, Any] = {
                "size": size, "instances": int(instances), "state": state,
            }
            if depends != "-":
                module["depends"] = [value for value in depends.split(",") if value]
            modules[name] = module
        return modules


_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")

# `mount -v` on OpenBSD: "DEVICE [(DUID.PART)] on PATH type FSTYPE (OPTIONS)".
_OPENBSD_MOUNT = re.compile(
    r"(?P<device>\S+)(?: \(.*\))? on (?P<path>/.*) type (?P<type>\w+) \((?P<options>.+)\)"
)


def _unescape(text: str) -> str:
    """The kernel writes space, tab, newline and backslash in mountinfo as `\\ooo`."""
    return _OCTAL_ESCAPE.sub(lambda match: chr(int(match.group(1), 8)), text)


def _linux_mounts(lines: list[str]) -> dict[str, dict[str, Any]]:
    """/proc/self/mountinfo (proc(5)): the per-mount options, then the superblock's without
    its ro/rw (the per-mount ro/rw is the one that holds)."""
    mounts: dict[str, dict[str, Any]] = {}
    for line in lines:
        # ID, parent ID, major:minor, root, mount point, options, optional tags..., "-",
        # type, source, superblock options.
        fields = line.split(" ")
        if "-" not in fields[6:]:
            continue
        tail = fields[fields.index("-", 6) + 1:]
        if len(tail) < 2:
            continue
        fs_type, source = tail[0], tail[1]
        super_options = tail[2].split(",") if len(tail) > 2 else []
        options = fields[5].split(",") + [
            _unescape(option) for option in super_options if option not in ("ro", "rw")
        ]
        mounts[_unescape(fields[4])] = {
            "device": _unescape(source), "type": fs_type, "options": options,
        }
    return mounts


def _freebsd_mounts(lines: list[str]) -> dict[str, dict[str, Any]]:
    try:
        entries = json.loads("\n".join(lines))["mount"]["fstab"]
    except (ValueError, KeyError, TypeError) as exc:
        raise FactError(f"cannot read `mount -p --libxo json` output: {exc}") from None
    return {
        entry["mntpoint"]: {
            "device": entry["device"],
            "type": entry["fstype"],
            "options": [option.strip() for option in entry["opts"].split(",")],
        }
        for entry in entries
    }


def _openbsd_mounts(lines: list[str]) -> dict[str, dict[str, Any]]:
    mounts: dict[str, dict[str, Any]] = {}
    for line in lines:
        match = _OPENBSD_MOUNT.fullmatch(line)
        if match is None:
            continue
        options = [option.strip() for option in match["options"].split(",")]
        mounts[match["path"]] = {
            "device": match["device"],
            "type": match["type"],
            # ctime changes by itself; left in, it would make every read look different.
            "options": [option for option in options if "ctime=" not in option],
        }
    return mounts


class Mounts(FactBase[dict[str, dict[str, Any]]]):
    """Mounted filesystems by mount point: `device`, `type` and `options` (a list), as the
    calling shell's mount namespace sees them."""

    def command(self) -> str:
        return (
            f"{_KERNEL_LINE}; "
            'case "$(uname -s)" in '
            "FreeBSD) mount -p --libxo json ;; "
            "OpenBSD) mount -v ;; "
            "*) cat /proc/self/mountinfo ;; esac"
        )

    def default(self) -> dict[str, dict[str, Any]]:
        return {}

    def process(self, output: list[str]) -> dict[str, dict[str, Any]]:
        kernel, lines = _split_kernel(output)
        if kernel == "FreeBSD":
            return _freebsd_mounts(lines)
        if kernel == "OpenBSD":
            return _openbsd_mounts(lines)
        return _linux_mounts(lines)
