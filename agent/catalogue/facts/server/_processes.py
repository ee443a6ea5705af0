"""server facts: running processes."""

from __future__ import annotations

import shlex
from typing import Any

from agent.engine.fact import FactBase, FactError

__all__ = ["Processes"]

_FULL_FIELDS = "pid,user,stat,%cpu,%mem,comm,args"
# BusyBox ps knows only a few columns, and no per-process CPU or memory share.
_BUSYBOX_FIELDS = "pid,user,vsz,stat,args"

# The first line of the command's output says which ps answered ("full" or "busybox"), so
# process() reads the columns that ps printed.
_PS_KIND = (
    'case "$(uname -s)" in FreeBSD|Darwin) echo full ;; *) '
    'case "$(readlink -f "$(command -v ps)" 2>/dev/null)" in '
    "*/busybox) echo busybox ;; *) echo full ;; esac ;; esac"
)


def _pid_word(pid: Any) -> str:
    text = str(pid)
    if isinstance(pid, bool) or not text.isdigit():
        raise FactError(f"server.Processes needs a numeric pid, got {pid!r}")
    return text


class Processes(FactBase[dict[int, dict[str, Any]]]):
    """Running processes by PID: `user`, `state`, `cpu_percent`, `mem_percent`, `command`
    (the short name) and `args` (the command line); only the one process with `pid`, or
    `{}` when it is not running."""

    cacheable = False

    def command(self, pid: int | None = None) -> str:
        kind = f"kind=$({_PS_KIND}); echo $kind"
        if pid is None:
            listing = (
                'if [ "$kind" = busybox ]; then LANG=C ps -o ' + _BUSYBOX_FIELDS + "; "
                'elif [ "$(uname -s)" = Linux ]; then '
                f"LANG=C ps -eo {_FULL_FIELDS} --no-headers; "
                f"else LANG=C ps -eo {_FULL_FIELDS}; fi"
            )
        else:
            word = _pid_word(pid)
            awk = shlex.quote(f"NR==1 || $1=={word}")
            listing = (
                f'if [ "$kind" = busybox ]; then LANG=C ps -o {_BUSYBOX_FIELDS} | awk {awk}; '
                f"else LANG=C ps -p {word} -o {_FULL_FIELDS} || true; fi"
            )
        return f"{kind}; {listing}"

    def default(self) -> dict[int, dict[str, Any]]:
        return {}

    def process(self, output: list[str]) -> dict[int, dict[str, Any]]:
        kind = output[0].strip() if output else "full"
        processes: dict[int, dict[str, Any]] = {}
        for raw in output[1:]:
            line = raw.strip()
            if not line or line.startswith("PID"):
                continue
            parsed = _busybox_line(line) if kind == "busybox" else _full_line(line)
            if parsed is not None:
                processes[parsed[0]] = parsed[1]
        return processes


def _full_line(line: str) -> tuple[int, dict[str, Any]] | None:
    parts = line.split(None, 6)
    if len(parts) < 6 or not parts[0].isdigit():
        return None
    try:
        cpu, mem = float(parts[3]), float(parts[4])
    except ValueError:
        return None
    return int(parts[0]), {
        "user": parts[1],
        "state": parts[2],
        "cpu_percent": cpu,
        "mem_percent": mem,
        "command": parts[5],
        # A process whose command line is empty shows its short name once.
        "args": parts[6] if len(parts) > 6 else parts[5],
    }


def _busybox_line(line: str) -> tuple[int, dict[str, Any]] | None:
    parts = line.split(None, 4)
    if len(parts) < 5 or not parts[0].isdigit():
        return None
    args = parts[4]
    return int(parts[0]), {
        "user": parts[1],
        "state": parts[3],
        "cpu_percent": 0.0,
        "mem_percent": 0.0,
        "command": args.split()[0].rsplit("/", 1)[-1] if args else "",
        "args": args,
    }
