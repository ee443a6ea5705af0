"""State readers for the kernel family's differential cases (mounts, processes, modules),
read from inside the bed host (Host.run enters its mount and PID namespaces), never over SSH.
"""

from __future__ import annotations

from collections.abc import Iterable

from tests.testbed import Host


def mounts(host: Host, paths: Iterable[str]) -> dict[str, dict | None]:
    """Source, type and per-mount options of each mount point (None: nothing mounted there),
    from the host's own /proc/self/mountinfo."""
    proc = host.run(["cat", "/proc/self/mountinfo"], check=True)
    table: dict[str, dict] = {}
    for line in proc.stdout.splitlines():
        fields = line.split(" ")
        tail = fields[fields.index("-", 6) + 1:]
        table[fields[4]] = {"type": tail[0], "device": tail[1],
                            "options": sorted(fields[5].split(","))}
    return {path: table.get(path) for path in paths}


def processes(host: Host, command_lines: Iterable[str]) -> dict[str, int]:
    """How many live (not zombie) processes run each exact command line."""
    proc = host.run(["ps", "-eo", "stat=,args="], check=True)
    running = [line.split(None, 1) for line in proc.stdout.splitlines() if line.strip()]
    return {
        wanted: sum(1 for stat, *args in running if args == [wanted] and not stat.startswith("Z"))
        for wanted in command_lines
    }


def kernel_modules(host: Host) -> list[str]:
    """Names of the loaded kernel modules (the machine's: bed hosts share its kernel)."""
    text = host.read_text("/proc/modules") or ""
    return sorted(line.split()[0] for line in text.splitlines() if line.strip())


def loaded_modules_here() -> list[str]:
    """Modules loaded on this machine right now: the only ones a case may ask to be present,
    so that neither tool ever loads or unloads a module."""
    try:
        with open("/proc/modules") as f:
            return sorted(line.split()[0] for line in f if line.strip())
    except FileNotFoundError:
        return []
