"""git operations: clones kept up to date (repo), worktrees, bare repositories and settings.

A working copy is pulled only when its branch tip differs from the remote's (`git ls-remote`),
so a run against an unchanged remote reports no change, as pyinfra 3.10's do.
"""

from __future__ import annotations

import re
from typing import Any

from agent.catalogue.facts.files import Directory, File, FindInFile
from agent.catalogue.facts.git import (
    GitBranch,
    GitConfig,
    GitLocalCommit,
    GitRemoteBranchCommit,
    GitTag,
    GitTrackingBranch,
)
from agent.catalogue.facts.server import Home
from agent.catalogue.operations import files
from agent.catalogue.operations.util.files import chown, unix_path_join
from agent.engine.command import Commands, QuoteString, StringCommand
from agent.engine.context import host
from agent.engine.operation import operation
from agent.engine.operation_errors import OperationError, OperationValueError

__all__ = ["bare_repo", "config", "repo", "worktree"]

# The host part of an scp-like or ssh:// source with a user: `git@github.com:org/repo.git`.
_SSH_SOURCE_HOST = re.compile(r"^[a-zA-Z0-9]+@([0-9a-zA-Z\.\-]+)")


def _check_text(op: str, name: str, value: Any, example: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise OperationValueError(f"git.{op} needs {name} as text, e.g. {name}={example!r}; "
                                  f"got {value!r}")
    return value


def _double_quoted(value: str) -> StringCommand:
    """The value inside double quotes, as pyinfra writes it, with the characters the shell
    would still interpret there escaped: the setting gets the text given, not an expansion."""
    escaped = re.sub(r'([\\"$`])', r"\\\1", value)
    return StringCommand('"', escaped, '"', separator="")


@operation()
def config(
    key: str,
    value: str,
    multi_value: bool = False,
    repo: str | None = None,
    system: bool = False,
) -> Commands:
    """Set a git setting for one repository (`repo`), for the system (`system=True`) or for
    the user the operation runs as; `multi_value` adds the value beside any others."""
    key = _check_text("config", "key", key, "user.name")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise OperationValueError(f"git.config needs value as text, e.g. value='true'; "
                                  f"got {value!r}")

    existing: dict[str, list[str]] = {}
    if not repo:
        existing = host.get_fact(GitConfig, system=system) or {}
    elif host.get_fact(Directory, path=unix_path_join(repo, ".git")):
        # A repository an earlier operation of this run has yet to clone has no settings.
        existing = host.get_fact(GitConfig, repo=repo) or {}

    if repo is None:
        base = StringCommand("git", "config", "--system" if system else "--global")
    else:
        base = StringCommand("cd", QuoteString(repo), "&&", "git", "config", "--local")

    values = existing.get(key, [])
    if not multi_value and values != [value]:
        yield StringCommand(base, QuoteString(key), _double_quoted(value))
    elif multi_value and value not in values:
        yield StringCommand(base, "--add", QuoteString(key), _double_quoted(value))
    else:
        host.noop(f"git config {key} is set to {value}")


def _keyscan(hostname: str, port: int = 22) -> Commands:
    """The host key of `hostname` into the user's known_hosts unless it has one, as pyinfra's
    ssh.keyscan does for git.repo."""
    home = host.get_fact(Home)
    yield from files.directory._inner(f"{home}/.ssh", mode=700)
    known = host.get_fact(FindInFile, path=f"{home}/.ssh/known_hosts", pattern=hostname)
    if known:
        host.noop(f"host key for {hostname} already exists")
        return
    known_hosts = StringCommand(QuoteString(str(home)), "/.ssh/known_hosts", separator="")
    yield StringCommand("ssh-keyscan", "-p", str(port), QuoteString(hostname), ">>",
                        known_hosts)


def _existing_repo_commands(
    src: str, dest: str, branch: str | None, pull: bool, rebase: bool, fetch_tags: bool,
) -> list[Any]:
    """The git subcommands that bring an existing working copy to `src`'s `branch`."""
    commands: list[Any] = []
    origin = (host.get_fact(GitConfig, repo=dest) or {}).get("remote.origin.url")
    # A working copy cloned from elsewhere follows the new source; one without an origin is
    # left to whoever manages its remotes.
    remote_changed = origin is not None and origin != [src]
    if remote_changed:
        commands.append(StringCommand("remote", "set-url", "origin", QuoteString(src)))

    current = host.get_fact(GitBranch, repo=dest)
    if branch is not None and current != branch:
        commands.append(StringCommand("fetch", "--tags") if fetch_tags else "fetch")
        commands.append(StringCommand("checkout", QuoteString(branch)))
    is_tag = bool(branch) and branch in (host.get_fact(GitTag, repo=dest) or [])
    if is_tag:
        commands.append(StringCommand("checkout", QuoteString(branch)))
    if not pull or is_tag:
        return commands

    wanted = branch or current
    # After a change of origin the remote tip below would be read from the new source but
    # the local one still follows the old: pull regardless.
    if not remote_changed and wanted:
        local = host.get_fact(GitLocalCommit, repo=dest, ref=wanted)
        remote = host.get_fact(GitRemoteBranchCommit, repo=dest, branch=wanted)
        if local and local == remote:
            host.noop(f"git repository {dest} is already up to date")
            return commands
    commands.append("pull --rebase" if rebase else "pull")
    return commands


@operation()
def repo(
    src: str,
    dest: str,
    branch: str | None = None,
    pull: bool = True,
    rebase: bool = False,
    user: str | None = None,
    group: str | None = None,
    ssh_keyscan: bool = False,
    update_submodules: bool = False,
    recursive_submodules: bool = False,
    depth: int | None = None,
    *,
    fetch_tags: bool = False,
) -> Commands:
    """Clone `src` into `dest`, then keep it on `branch` and pulled; `user`/`group` own the
    files after any change. `ssh_keyscan` trusts the source's SSH host key on first sight."""
    src = _check_text("repo", "src", src, "git@example.com:org/app.git")
    dest = _check_text("repo", "dest", dest, "/srv/app")
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int)
                              or depth < 1):
        raise OperationValueError(f"git.repo takes depth as a number of commits (1 or more), "
                                  f"got {depth!r}")
    source_host = _SSH_SOURCE_HOST.match(src)
    if ssh_keyscan and source_host is None:
        raise OperationValueError(
            f"git.repo cannot find the SSH host to keyscan in src={src!r}: write it as "
            "user@host:path, or leave ssh_keyscan off"
        )

    yield from files.directory._inner(dest)
    if ssh_keyscan and source_host is not None:
        yield from _keyscan(source_host.group(1))

    commands: list[Any] = []
    if not host.get_fact(Directory, path=unix_path_join(dest, ".git")):
        options: list[Any] = []
        if depth is not None:
            options += ["--depth", str(depth)]
        if branch:
            options += ["--branch", QuoteString(branch)]
        commands.append(StringCommand("clone", QuoteString(src), *options, "."))
    else:
        commands += _existing_repo_commands(src, dest, branch, pull, rebase, fetch_tags)

    if update_submodules:
        commands.append("submodule update --init"
                        + (" --recursive" if recursive_submodules else ""))

    for command in commands:
        yield StringCommand("cd", QuoteString(dest), "&&", "git", command)
    if commands and (user or group):
        yield chown(dest, user, group, recursive=True)


def _remote_branch(value: Any) -> tuple[str, str] | None:
    if value is None:
        return None
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(isinstance(part, str) and part for part in value)
    ):
        raise OperationValueError(
            "The remote branch must be a 2-tuple (remote, branch) such as "
            f'("origin", "master"), got {value!r}'
        )
    return value[0], value[1]


def _add_worktree(
    worktree: str, repo: str, detached: bool, new_branch: str | None, commitish: str | None,
    force: bool, user: str | None, group: str | None,
) -> Commands:
    args: list[Any] = ["cd", QuoteString(repo), "&&", "git", "worktree", "add"]
    if new_branch:
        args += ["-b", QuoteString(new_branch)]
    elif detached:
        args.append("--detach")
    if force:
        args.append("--force")
    args.append(QuoteString(worktree))
    if commitish:
        args.append(QuoteString(commitish))
    yield StringCommand(*args)

    if not (user or group):
        return
    yield chown(worktree, user, group, recursive=True)
    # `worktree add` run as root also leaves root-owned metadata in the main repository
    # (.git/worktrees/<name>, and the new branch's ref and reflog) that git, run later as
    # the worktree's owner, must write.
    name = worktree.rstrip("/").rsplit("/", 1)[-1]
    yield chown(unix_path_join(repo, ".git", "worktrees", name), user, group, recursive=True)
    branch = new_branch or (name if not detached and not commitish else None)
    if branch:
        yield chown(unix_path_join(repo, ".git", "refs", "heads", branch), user, group)
        yield chown(unix_path_join(repo, ".git", "logs", "refs", "heads", branch), user,
                    group, recursive=True)


def _pull_worktree(worktree: str, rebase: bool, remote_branch: tuple[str, str] | None) -> Commands:
    tracking = host.get_fact(GitTrackingBranch, repo=worktree)
    if not tracking and remote_branch is None:
        # Nothing to pull from: no upstream and none given.
        return
    remote: tuple[str, str] | None = remote_branch
    if remote is None and tracking and "/" in tracking:
        name, branch = tracking.split("/", 1)
        remote = (name, branch)
    if remote is not None:
        local = host.get_fact(GitLocalCommit, repo=worktree)
        tip = host.get_fact(GitRemoteBranchCommit, repo=worktree, remote=remote[0],
                            branch=remote[1])
        if local and local == tip:
            host.noop(f"git worktree {worktree} is already up to date")
            return
    args: list[Any] = ["cd", QuoteString(worktree), "&&", "git", "pull"]
    if rebase:
        args.append("--rebase")
    if remote_branch is not None:
        args += [QuoteString(remote_branch[0]), QuoteString(remote_branch[1])]
    yield StringCommand(*args)


@operation()
def worktree(
    worktree: str,
    repo: str | None = None,
    detached: bool = False,
    new_branch: str | None = None,
    commitish: str | None = None,
    pull: bool = True,
    rebase: bool = False,
    from_remote_branch: tuple[str, str] | None = None,
    present: bool = True,
    assume_repo_exists: bool = False,
    force: bool = False,
    user: str | None = None,
    group: str | None = None,
) -> Commands:
    """Add a worktree of `repo` (from `commitish`, on `new_branch` or detached), keep it
    pulled from its upstream or `from_remote_branch`, or remove it (`present=False`)."""
    worktree = _check_text("worktree", "worktree", worktree, "/srv/app-hotfix")
    remote_branch = _remote_branch(from_remote_branch)
    exists = host.get_fact(Directory, path=worktree)

    if present and not exists:
        if repo is None:
            raise OperationValueError("git.worktree needs repo= (the main repository's "
                                      "directory) to create a worktree")
        if not assume_repo_exists and not host.get_fact(
            Directory, path=unix_path_join(repo, ".git"),
        ):
            raise OperationError(f"The following folder is not a valid GIT repository : {repo}")
        yield from _add_worktree(worktree, repo, detached, new_branch, commitish, force, user,
                                 group)
    elif exists and not present:
        args: list[Any] = ["cd", QuoteString(worktree), "&&", "git", "worktree", "remove", "."]
        if force:
            args.append("--force")
        yield StringCommand(*args)
    elif exists and present:
        if not pull:
            host.noop("Pull is disabled")
        else:
            yield from _pull_worktree(worktree, rebase, remote_branch)


@operation()
def bare_repo(
    path: str,
    user: str | None = None,
    group: str | None = None,
    present: bool = True,
) -> Commands:
    """Create (or remove, `present=False`) a bare repository at `path`, owned by
    `user`/`group`."""
    path = _check_text("bare_repo", "path", path, "/srv/git/app.git")
    yield from files.directory._inner(path, present=present)
    if not present:
        return
    head = host.get_fact(File, path=unix_path_join(path, "HEAD"))
    if not head:
        yield StringCommand("git", "init", "--bare", QuoteString(path))
        if user or group:
            yield chown(path, user, group, recursive=True)
    elif (user and head["user"] != user) or (group and head["group"] != group):
        yield chown(path, user, group, recursive=True)
