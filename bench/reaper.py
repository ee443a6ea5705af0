"""Run one command and account for its whole process tree: wall time, CPU, peak RSS.

Usage: python -I bench/reaper.py RESULT.json -- COMMAND [ARG...]

Why a wrapper instead of os.wait4 on the tool itself: wait4's rusage of a child covers that
child and the descendants it waited for, but not a descendant that outlived its parent.
Ansible's OpenSSH connections are such descendants: with ControlPersist the ssh master forks
into the background, outlives the worker that started it and does the encryption for every
later command on that host. This process marks itself a child subreaper
(PR_SET_CHILD_SUBREAPER), so orphans in the tree are re-parented to it instead of to init.
When the command exits, the orphans still running (ssh masters) are sent SIGTERM and reaped,
and then getrusage(RUSAGE_CHILDREN) holds the CPU of every process the command started,
whoever waited for it. Every tool runs under this wrapper, so all three are measured alike;
pyinfra and pullinfra leave no orphans (`stragglers` in the result says so).

Wall time runs from spawning the command to its exit (reaping orphans afterwards is not
counted: it is the wrapper's clean-up, not the tool's work). ru_maxrss of RUSAGE_CHILDREN is
the peak RSS of the largest single process in the tree, not a sum: for Ansible, whose forked
workers share the parent's pages copy-on-write, a sum would count shared pages many times.

Only the standard library is used, and the wrapper runs with -I, so it adds the same few
milliseconds of start-up to every tool and never imports the checkout.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
STRAGGLER_GRACE_S = 5.0


def _children() -> list[tuple[int, str]]:
    """(pid, comm) of this process's live children, found by scanning /proc."""
    me = os.getpid()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                data = f.read().decode(errors="replace")
        except OSError:
            continue
        comm = data[data.index("(") + 1:data.rindex(")")]
        fields = data[data.rindex(")") + 2:].split()
        if int(fields[1]) == me and fields[0] != "Z":
            found.append((int(name), comm))
    return found


def _reap_all() -> None:
    """Reap every child that has exited (none left, or only live ones)."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def _end_stragglers() -> list[str]:
    """SIGTERM every orphan left in the tree (SIGKILL after a grace), reap them all."""
    names: list[str] = []
    deadline = time.monotonic() + STRAGGLER_GRACE_S
    signalled: set[int] = set()
    while True:
        _reap_all()
        live = _children()
        if not live:
            return names
        for pid, comm in live:
            if pid not in signalled:
                signalled.add(pid)
                names.append(comm)
                os.kill(pid, signal.SIGTERM)
            elif time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    result_path, command = argv[0], argv[2:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")
    start = time.perf_counter()
    pid = os.posix_spawnp(command[0], command, os.environ)
    _, status, _ = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    stragglers = _end_stragglers()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = {
        "wall_s": wall,
        "user_s": usage.ru_utime,
        "sys_s": usage.ru_stime,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "rss_kib": usage.ru_maxrss,
        "exit": os.waitstatus_to_exitcode(status),
        "stragglers": stragglers,
    }
    with open(result_path, "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
