"""Readers of git state on a bed host for the git differential cases, read with the host's
own git (Host.run, as root, never over SSH), so neither tool's git facts judge the result."""

from __future__ import annotations

import shlex
from collections.abc import Iterable

from tests.differential import state
from tests.testbed import Host

# The readers run as root in working copies the cases give to other users.
_GIT = "git -c safe.directory='*'"


def _git(host: Host, path: str, command: str) -> str | None:
    proc = host.run(f"{_GIT} -C {shlex.quote(path)} {command}")
    return proc.stdout.strip() if proc.returncode == 0 else None


def repos(host: Host, paths: Iterable[str]) -> dict[str, dict | None]:
    """Per working copy (or bare repository): HEAD's commit, the checked-out branch, the
    remotes (`git remote -v`), its local settings and whether it is bare; None if none."""
    found: dict[str, dict | None] = {}
    for path in paths:
        if _git(host, path, "rev-parse --git-dir") is None:
            found[path] = None
            continue
        found[path] = {
            "head": _git(host, path, "rev-parse --verify -q HEAD"),
            "branch": _git(host, path, "symbolic-ref -q --short HEAD"),
            "remotes": (_git(host, path, "remote -v") or "").splitlines(),
            "bare": _git(host, path, "rev-parse --is-bare-repository"),
            "config": sorted((_git(host, path, "config --local -l") or "").splitlines()),
            "worktrees": [line for line in (_git(host, path, "worktree list --porcelain")
                                            or "").splitlines() if line.startswith("worktree")],
        }
    return found


def configs(host: Host) -> dict[str, list[str]]:
    """root's global and the system git settings, as `git config -l` lists them."""
    found = {}
    for level in ("--system", "--global"):
        proc = host.run(f"HOME=/root git config {level} -l")
        found[level] = proc.stdout.splitlines() if proc.returncode == 0 else []
    return found


def checkout(host: Host, repo_paths: Iterable[str], file_paths: Iterable[str]) -> dict:
    """repos() and state.files() together, plus the git settings: one case's whole state."""
    return {"repos": repos(host, repo_paths), "files": state.files(host, file_paths),
            "config": configs(host)}
