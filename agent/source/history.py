"""Read-only questions about commits already in the clone: who wrote one (a reconcile runs
the applied commit, not the head), which commits a newer head overtook (they are recorded as
superseded), and which files a commit touched (for a deployment's `paths`).

They run through the GitSource's own git runner, so they share its timeout, environment and
the scrubbing of credentials from errors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from agent.source.errors import SourceError

MAX_OVERTAKEN = 100
"""A push of hundreds of commits records the newest ones; history is not a git log."""

GitRunner = Callable[..., str]


@dataclass(frozen=True)
class Commit:
    revision: str
    author: str | None = None
    message: str | None = None


def commit_info(git: GitRunner, revision: str) -> Commit:
    """Author and message of `revision`; None fields when the clone does not have it."""
    out = _quietly(git, "show", "-s", "--format=%an <%ae>%x00%B", revision, "--")
    if not out or "\0" not in out:
        return Commit(revision)
    author, message = out.split("\0", 1)
    return Commit(revision, author, message.strip())


def overtaken(git: GitRunner, old: str | None, new: str) -> list[Commit]:
    """Commits after `old` up to but excluding `new`, oldest first; [] when not comparable
    (after a force-push, or on a first run, nothing was overtaken)."""
    if not old or old == new:
        return []
    if _quietly(git, "merge-base", "--is-ancestor", old, new) is None:
        return []
    out = _quietly(git, "log", f"--max-count={MAX_OVERTAKEN + 1}", "--reverse",
                   "--format=%H%x00%an <%ae>%x00%s%x1e", f"{old}..{new}")
    commits = []
    for entry in (out or "").split("\x1e"):
        parts = entry.strip().split("\0")
        if len(parts) == 3 and parts[0] != new:
            commits.append(Commit(*parts))
    return commits[-MAX_OVERTAKEN:]


def touched_paths(git: GitRunner, revision: str) -> list[str] | None:
    """Files `revision` itself changed against its first parent (a rename counts for both
    names); None if unknown."""
    out = _quietly(git, "diff-tree", "--no-commit-id", "--name-only", "--no-renames", "-r",
                   "--root", "-z", revision)
    if out is None:
        return None
    return [p for p in out.split("\0") if p]


def _quietly(git: GitRunner, *args: str) -> str | None:
    try:
        return git(*args)
    except SourceError:
        return None
