"""Read-only questions about commits in the agent's clone that GitSource does not answer:
who wrote a commit that is not the head (reconciles run the applied commit), and which
commits a newer head overtook (to record them as superseded).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

MAX_SUPERSEDED = 100
"""A push of hundreds of commits records the newest ones; history is not a git log."""


@dataclass(frozen=True)
class Commit:
    revision: str
    author: str | None
    message: str | None


def _git(git_dir: Path, *args: str, timeout: float = 30.0) -> str | None:
    try:
        done = subprocess.run(["git", f"--git-dir={git_dir}", *args], capture_output=True,
                              text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def commit_info(git_dir: Path, revision: str) -> Commit:
    """Author and message of `revision`; None fields when the clone does not have it."""
    out = _git(git_dir, "show", "-s", "--format=%an <%ae>%x00%B", revision, "--")
    if not out or "\0" not in out:
        return Commit(revision, None, None)
    author, message = out.split("\0", 1)
    return Commit(revision, author, message.strip())


def overtaken(git_dir: Path, old: str | None, new: str) -> list[Commit]:
    """Commits after `old` up to but excluding `new`, oldest first; [] when not comparable.

    Only meaningful when `old` is an ancestor of `new`: after a force-push or on a first
    run there is nothing that was "overtaken".
    """
    if not old or old == new:
        return []
    if _git(git_dir, "merge-base", "--is-ancestor", old, new) is None:
        return []
    out = _git(git_dir, "log", f"--max-count={MAX_SUPERSEDED + 1}", "--reverse",
               "--format=%H%x00%an <%ae>%x00%s%x1e", f"{old}..{new}")
    commits = []
    for entry in (out or "").split("\x1e"):
        parts = entry.strip().split("\0")
        if len(parts) == 3 and parts[0] != new:
            commits.append(Commit(*parts))
    return commits[-MAX_SUPERSEDED:]


def touched_paths(git_dir: Path, revision: str) -> list[str] | None:
    """Files `revision` itself changed (against its first parent); None if unknown."""
    out = _git(git_dir, "diff-tree", "--no-commit-id", "--name-only", "-r", "--root", "-z",
               revision)
    if out is None:
        return None
    return [p for p in out.split("\0") if p]
