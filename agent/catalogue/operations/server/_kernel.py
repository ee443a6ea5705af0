"""server operations: the kernel: settings (sysctl), modules (modprobe) and mounted
filesystems (mount)."""

from __future__ import annotations

import posixpath
from typing import Any

from agent.catalogue.facts.server import Kernel, KernelModules, Mounts, Sysctl
from agent.catalogue.operations import files
from agent.engine.command import Commands, QuoteString, StringCommand
from agent.engine.context import host
from agent.engine.operation import operation
from agent.engine.operation_errors import OperationValueError

__all__ = ["modprobe", "mount", "sysctl"]


def _as_number(value: Any) -> Any:
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def _wanted(value: str | int | list[str | int]) -> Any:
    """The value in the shape the Sysctl fact gives: numbers as ints, several words a list."""
    if isinstance(value, list):
        numbers = [_as_number(part) for part in value]
        return numbers[0] if len(numbers) == 1 else numbers
    if isinstance(value, str) and len(value.split()) > 1:
        return [_as_number(part) for part in value.split()]
    return _as_number(value)


def _check_key(key: Any) -> str:
    if not isinstance(key, str) or not key.strip() or any(c.isspace() or c == "=" for c in key):
        raise OperationValueError(
            f"server.sysctl needs a sysctl key such as 'net.ipv4.ip_forward', got {key!r}: "
            "pass the setting's dotted name as key=..."
        )
    return key


@operation()
def sysctl(
    key: str,
    value: str | int | list[str | int],
    persist: bool = False,
    persist_file: str = "/etc/sysctl.conf",
) -> Commands:
    """Set a kernel setting now and, with `persist`, as `key = value` in `persist_file` so it
    holds after a reboot."""
    key = _check_key(key)
    text = " ".join(str(part) for part in value) if isinstance(value, list) else value
    current = host.get_fact(Sysctl, keys=[key]).get(key)

    if current != _wanted(value):
        assignment = StringCommand(QuoteString(key), "=", QuoteString(str(text)), separator="")
        yield StringCommand("sysctl", assignment)
    else:
        host.noop(f"sysctl {key} is set to {text}")

    if persist:
        yield from files.line._inner(
            path=persist_file,
            line=f"{key}[[:space:]]*=[[:space:]]*{text}",
            replace=f"{key} = {text}",
        )


def _module_names(module: Any) -> list[str]:
    names = [module] if isinstance(module, str) else module
    if (
        not isinstance(names, (list, tuple))
        or not names
        or not all(isinstance(name, str) and name and not name.isspace() for name in names)
    ):
        raise OperationValueError(
            f"server.modprobe needs a module name or a list of them, got {module!r}: "
            "pass module='br_netfilter' or module=['br_netfilter', 'overlay']"
        )
    return list(names)


def _is_loaded(name: str, loaded: dict[str, Any]) -> bool:
    """/proc/modules spells names with `_`; modprobe takes `-` and `_` alike, so a name
    given as `snd-hda-intel` is loaded when `snd_hda_intel` is listed."""
    return name in loaded or name.replace("-", "_") in loaded


@operation()
def modprobe(module: str | list[str], present: bool = True, force: bool = False) -> Commands:
    """Load (or with `present=False` unload) kernel modules; only those not yet in the
    wanted state are passed to one `modprobe -a`."""
    names = _module_names(module)
    loaded = host.get_fact(KernelModules) or {}
    have = [name for name in names if _is_loaded(name, loaded)]
    missing = [name for name in names if not _is_loaded(name, loaded)]
    force_args = ["-f"] if force else []

    if not present and have:
        yield StringCommand("modprobe", *force_args, "-r", "-a", *map(QuoteString, have))
    elif present and missing:
        yield StringCommand("modprobe", *force_args, "-a", *map(QuoteString, missing))
    else:
        several = len(names) > 1
        host.noop(
            f"{'modules' if several else 'module'} {'/'.join(names)} "
            f"{'are' if several else 'is'} {'loaded' if present else 'not loaded'}"
        )


def _check_mount_args(path: Any, options: Any) -> list[str]:
    if not isinstance(path, str) or not path.strip():
        raise OperationValueError(
            f"server.mount needs the mount point as path='/mnt/data', got {path!r}"
        )
    if options is None:
        return []
    if isinstance(options, str) or not all(isinstance(o, str) and o for o in options):
        raise OperationValueError(
            f"server.mount takes options as a list of words such as ['ro', 'noexec'], "
            f"got {options!r}"
        )
    return list(options)


def _mount_by_device(mounts: dict[str, Any], device: str) -> str | None:
    """The mount point where `device` is mounted, for a path given in another spelling than
    mountinfo's. Sources such as `tmpfs` or `proc` are names, not one filesystem, so only a
    device path counts."""
    if "/" not in device:
        return None
    for mount_point, info in mounts.items():
        if info.get("device") == device:
            return mount_point
    return None


@operation()
def mount(
    path: str,
    mounted: bool = True,
    options: list[str] | None = None,
    device: str | None = None,
    fs_type: str | None = None,
) -> Commands:
    """Mount (or unmount) a filesystem now; /etc/fstab is left alone (files.line keeps it).
    A mounted filesystem that lacks some of `options` is remounted with them."""
    options = _check_mount_args(path, options)
    options_text = ",".join(options)
    mounts = host.get_fact(Mounts) or {}
    # mountinfo spells mount points normalised: /mnt/data/ is mounted as /mnt/data.
    spelled = posixpath.normpath(path) if path.startswith("/") else path
    mount_point: str | None = spelled if spelled in mounts else None
    if mount_point is None and device:
        mount_point = _mount_by_device(mounts, device)

    if mounted and mount_point is None:
        args: list[Any] = []
        if fs_type:
            args += ["-t", QuoteString(fs_type)]
        if options_text:
            args += ["-o", QuoteString(options_text)]
        if device:
            args.append(QuoteString(device))
        yield StringCommand("mount", *args, QuoteString(path))
    elif not mounted and mount_point is not None:
        yield StringCommand("umount", QuoteString(mount_point))
    elif mounted and mount_point is not None and set(options) - set(
        mounts[mount_point]["options"]
    ):
        yield _remount(mounts[mount_point], mount_point, options_text)
    else:
        host.noop(f"filesystem {path} is {'mounted' if mounted else 'not mounted'}")


def _remount(info: dict[str, Any], mount_point: str, options_text: str) -> StringCommand:
    """The BSDs update a mount in place with `-u` (and want its type and device again);
    Linux takes `remount` as an option."""
    if "BSD" in (host.get_fact(Kernel) or ""):
        return StringCommand(
            "mount", "-uo", QuoteString(options_text), "-t", QuoteString(info["type"]),
            QuoteString(info["device"]), QuoteString(mount_point),
        )
    return StringCommand("mount", "-o", QuoteString(f"remount,{options_text}"),
                         QuoteString(mount_point))
