"""Watching a live agent from outside, for the load test and the soak benchmark (bench/soak.py):
its process figures from /proc, the size of its state dir, and the runs it finished, counted
from its log. Nothing here asks the agent anything, so observing costs it nothing.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

FINISHED_LINE = 'msg="run finished"'  # the agent's log line at the end of every run
STARTED_LINE = 'msg="run started"'  # ... and at the start of every run that runs
SUPERSEDED_FIELD = "status=superseded"  # on the same line for a commit that never ran
DB_FILENAME = "state.db"  # the state database inside the state dir (agent/state/db.py)


@dataclass(frozen=True)
class Figures:
    """One sample of what a leak would make grow."""

    rss_kib: int
    threads: int
    fds: int
    state_dir_bytes: int
    db_bytes: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def process_figures(pid: int) -> tuple[int, int, int]:
    """(VmRSS in KiB, threads, open file descriptors) of one live process."""
    status = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        status[key] = value.split()
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return int(status["VmRSS"][0]), int(status["Threads"][0]), fds


def disk_usage(path: Path) -> int:
    """Bytes allocated under `path`, as `du` counts them (every file, hard links once)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for top, dirs, files in os.walk(path):
        for name in dirs + files:
            try:
                st = os.lstat(os.path.join(top, name))
            except FileNotFoundError:  # the agent removed it meanwhile (a pruned checkout)
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def db_bytes(state_dir: Path) -> int:
    """The state database with its write-ahead log and shared memory file."""
    return sum(p.stat().st_size for p in state_dir.glob(DB_FILENAME + "*") if p.is_file())


def figures(pid: int, state_dir: Path) -> Figures:
    rss, threads, fds = process_figures(pid)
    return Figures(rss, threads, fds, disk_usage(state_dir), db_bytes(state_dir))


class LogCounter:
    """Counts the agent's started and finished runs in its log, reading only what was appended
    since the last call (the log of a long soak is too large to read again every poll)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.count = 0
        self.started = 0
        self._partial = b""

    def idle(self) -> bool:
        """No run going: as many finished as started (read anew)."""
        return self.finished() == self.started

    def finished(self) -> int:
        """Runs finished so far: every `run finished` line since the log began, but a
        superseded commit's, which is logged the same way though it never ran."""
        try:
            with open(self.path, "rb") as log:
                log.seek(self.offset)
                data = log.read()
        except FileNotFoundError:
            return self.count
        self.offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        self.count += sum(FINISHED_LINE.encode() in line
                          and SUPERSEDED_FIELD.encode() not in line for line in lines)
        self.started += sum(STARTED_LINE.encode() in line for line in lines)
        return self.count
