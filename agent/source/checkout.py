"""Immutable per-commit exports of the repository tree, one directory per commit.

A run reads deploy code from `checkouts/<sha>`, never from a tree that a fetch updates.
The export is written under a temporary name and renamed into place, so a directory that
exists is always complete; files and directories are then made read-only.
"""

from __future__ import annotations

import os
import shutil
import stat
import uuid
from collections.abc import Iterable
from pathlib import Path

from git import Git
from git.exc import GitCommandError

from agent.source.errors import CheckoutError

_TEMP_PREFIX = ".tmp-"


def export_tree(git: Git, git_dir: Path, revision: str, root: Path, timeout: float) -> Path:
    """The directory holding exactly the tree of `revision`, created on first use."""
    final = root / revision
    if final.is_dir():
        os.utime(final)
        return final
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    temp, index = root / f"{_TEMP_PREFIX}{token}", root / f"{_TEMP_PREFIX}{token}.index"
    temp.mkdir(mode=0o700)
    base = ["git", f"--git-dir={git_dir}", f"--work-tree={temp}"]
    env = {"GIT_INDEX_FILE": str(index)}
    try:
        git.execute([*base, "read-tree", revision], env=env, kill_after_timeout=timeout)
        git.execute([*base, "checkout-index", "--all", "--force"], env=env,
                    kill_after_timeout=timeout)
    except GitCommandError as exc:
        remove_tree(temp)
        raise CheckoutError(f"cannot export commit {revision[:12]}: {exc.stderr}") from None
    finally:
        index.unlink(missing_ok=True)
    _make_read_only(temp)
    try:
        os.rename(temp, final)
    except OSError:
        remove_tree(temp)
        if not final.is_dir():
            raise
    return final


def prune_exports(root: Path, keep: Iterable[str], keep_latest: int) -> list[str]:
    """Delete exports except `keep` and the `keep_latest` most recently used; return removed."""
    if not root.is_dir():
        return []
    exports = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(_TEMP_PREFIX)]
    exports.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    kept = set(keep) | {p.name for p in exports[:keep_latest]}
    removed = []
    for path in exports:
        if path.name not in kept:
            remove_tree(path)
            removed.append(path.name)
    for leftover in root.glob(f"{_TEMP_PREFIX}*"):
        remove_tree(leftover) if leftover.is_dir() else leftover.unlink(missing_ok=True)
    return removed


def remove_tree(path: Path) -> None:
    """rmtree that first gives back the write permission `_make_read_only` took away."""
    for directory, _dirs, _files in os.walk(path):
        os.chmod(directory, stat.S_IRWXU)
    shutil.rmtree(path, ignore_errors=True)


def _make_read_only(root: Path) -> None:
    """No write bits anywhere, and the export's own directory the owner's alone (0500): a
    commit may hold group_data secrets. The files inside keep git's read and execute bits,
    which files.put(mode=True) copies to hosts; no one else can reach them."""
    no_write = ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    for directory, dirs, files in os.walk(root, topdown=False):
        for name in files:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                os.chmod(path, os.stat(path).st_mode & no_write)
        for name in dirs:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                os.chmod(path, os.stat(path).st_mode & no_write)
    os.chmod(root, stat.S_IRUSR | stat.S_IXUSR)
