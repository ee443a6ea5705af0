"""git.repo, git.config, git.worktree and git.bare_repo: facts in, commands out; the git
facts' parsers; and each against real git in a temporary directory."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

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
from agent.catalogue.operations import git
from agent.compat import run_deploy
from agent.vocab import OpStatus
from tests.ops.conftest import FakeHost, local_deploy, run_fact, run_op
from tests.oracle import oracle_json

DIR = {"user": "root", "group": "root", "mode": 755}
SHA_A = "a" * 40
SHA_B = "b" * 40
SRC = "git@git.example.com:org/app.git"


# --------------------------------------------------------------------------- facts


def test_fact_parsers_read_real_looking_output() -> None:
    assert GitBranch().process(["heads/main"]) == "main"
    assert GitBranch().process(["tags/v1.2"]) == "v1.2"
    assert GitTag().process(["v1.0", "v1.1"]) == ["v1.0", "v1.1"]
    assert GitConfig().process([
        "user.name=Anon E. Mouse", "remote.origin.url=git@x:y.git",
        "remote.origin.fetch=+refs/heads/*:refs/remotes/origin/*", "url.a=b=c",
        "safe.directory=/srv/a", "safe.directory=/srv/b", "core.bare",
    ]) == {
        "user.name": ["Anon E. Mouse"], "remote.origin.url": ["git@x:y.git"],
        "remote.origin.fetch": ["+refs/heads/*:refs/remotes/origin/*"], "url.a": ["b=c"],
        "safe.directory": ["/srv/a", "/srv/b"], "core.bare": [""],
    }
    assert GitConfig().default() == {}
    assert GitTrackingBranch().process(["## main...origin/main [ahead 1]", " M x"]) == (
        "origin/main")
    assert GitTrackingBranch().process(["## main"]) is None
    assert GitTrackingBranch().process([]) is None
    assert GitLocalCommit().process([SHA_A]) == SHA_A
    assert GitLocalCommit().process(["nosuchref"]) is None
    assert GitRemoteBranchCommit().process([f"{SHA_B}\trefs/heads/main"]) == SHA_B
    assert GitRemoteBranchCommit().process([]) is None


def test_fact_commands() -> None:
    assert GitBranch().command(repo="/srv/my app") == (
        "! test -d '/srv/my app' || (cd '/srv/my app' && git describe --all)")
    assert GitConfig().command() == "git config --global -l || true"
    assert GitConfig().command(system=True) == "git config --system -l || true"
    assert GitRemoteBranchCommit().command(repo="/srv/app", branch="main") == (
        "! test -d /srv/app || (cd /srv/app && git ls-remote origin main 2>/dev/null"
        " | head -n1)")
    assert GitLocalCommit().command(repo="/srv/app") == (
        "! test -d /srv/app || (cd /srv/app && git rev-parse HEAD 2>/dev/null) || true")
    assert GitConfig().requires_command() == "git"


def _git(*args: str, cwd: Path) -> str:
    env_args = ["-c", "user.email=t@example.com", "-c", "user.name=t", "-c",
                "init.defaultBranch=main"]
    return subprocess.run(["git", *env_args, *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.fixture
def remote_and_clone(tmp_path: Path) -> tuple[Path, Path]:
    bare, work = tmp_path / "remote.git", tmp_path / "work"
    _git("init", "-q", "--bare", str(bare), cwd=tmp_path)
    _git("clone", "-q", str(bare), str(work), cwd=tmp_path)
    (work / "README").write_text("one\n")
    _git("add", "README", cwd=work)
    _git("commit", "-q", "-m", "one", cwd=work)
    _git("push", "-q", "origin", "HEAD:main", cwd=work)
    return bare, work


def test_facts_against_a_real_repository(remote_and_clone: tuple[Path, Path],
                                         tmp_path: Path) -> None:
    bare, work = remote_and_clone
    head = _git("rev-parse", "HEAD", cwd=work)
    assert run_fact(GitBranch, repo=str(work)) == "main"
    assert run_fact(GitLocalCommit, repo=str(work)) == head
    assert run_fact(GitLocalCommit, repo=str(work), ref="nosuch") is None
    assert run_fact(GitRemoteBranchCommit, repo=str(work), branch="main") == head
    assert run_fact(GitTrackingBranch, repo=str(work)) == "origin/main"
    assert run_fact(GitConfig, repo=str(work))["remote.origin.url"] == [str(bare)]
    _git("tag", "v1", cwd=work)
    assert run_fact(GitTag, repo=str(work)) == ["v1"]
    missing = str(tmp_path / "missing")
    assert run_fact(GitBranch, repo=missing) is None
    assert run_fact(GitConfig, repo=missing) == {}
    assert run_fact(GitLocalCommit, repo=missing) is None


# --------------------------------------------------------------------------- git.repo


def _existing_repo(fake: FakeHost, dest: str = "/srv/app", branch: str = "main",
                   local: str = SHA_A, remote: str = SHA_A, origin: str = SRC) -> None:
    fake.fact(Directory, DIR, path=dest)
    fake.fact(Directory, DIR, path=f"{dest}/.git")
    fake.fact(GitConfig, {"remote.origin.url": [origin]}, repo=dest)
    fake.fact(GitBranch, branch, repo=dest)
    fake.fact(GitLocalCommit, local, repo=dest, ref=branch)
    fake.fact(GitRemoteBranchCommit, remote, repo=dest, branch=branch)


def test_repo_clones_into_a_new_directory(fake: FakeHost) -> None:
    fake.fact(Directory, None, path="/srv/app")
    fake.fact(Directory, None, path="/srv/app/.git")
    assert run_op(fake, git.repo, src=SRC, dest="/srv/app", branch="main", depth=1,
                  user="deploy", group="deploy", update_submodules=True,
                  recursive_submodules=True) == [
        "mkdir -p /srv/app",
        f"cd /srv/app && git clone {SRC} --depth 1 --branch main .",
        "cd /srv/app && git submodule update --init --recursive",
        "chown -R deploy:deploy /srv/app",
    ]


def test_repo_up_to_date_is_no_change(fake: FakeHost) -> None:
    _existing_repo(fake)
    assert run_op(fake, git.repo, src=SRC, dest="/srv/app", user="deploy") == []
    assert fake.noops[-1] == "git repository /srv/app is already up to date"


def test_repo_pulls_a_new_remote_commit(fake: FakeHost) -> None:
    _existing_repo(fake, remote=SHA_B)
    assert run_op(fake, git.repo, src=SRC, dest="/srv/app", rebase=True, group="web") == [
        "cd /srv/app && git pull --rebase", "chgrp -R web /srv/app",
    ]


def test_repo_switches_branch_and_origin(fake: FakeHost) -> None:
    _existing_repo(fake, origin="git@old.example.com:org/app.git")
    fake.fact(GitTag, [], repo="/srv/app")
    assert run_op(fake, git.repo, src=SRC, dest="/srv/app", branch="release",
                  fetch_tags=True) == [
        f"cd /srv/app && git remote set-url origin {SRC}",
        "cd /srv/app && git fetch --tags",
        "cd /srv/app && git checkout release",
        "cd /srv/app && git pull",
    ]


def test_repo_on_a_tag_checks_it_out_and_never_pulls(fake: FakeHost) -> None:
    _existing_repo(fake, branch="v1.0")
    fake.fact(GitTag, ["v1.0"], repo="/srv/app")
    assert run_op(fake, git.repo, src=SRC, dest="/srv/app", branch="v1.0") == [
        "cd /srv/app && git checkout v1.0",
    ]


def test_repo_without_pull_leaves_the_copy(fake: FakeHost) -> None:
    _existing_repo(fake, remote=SHA_B)
    assert run_op(fake, git.repo, src=SRC, dest="/srv/app", pull=False, user="x") == []


def test_repo_ssh_keyscan_adds_the_host_key_once(fake: FakeHost) -> None:
    fake.fact(Directory, None, path="/srv/app")
    fake.fact(Directory, None, path="/srv/app/.git")
    fake.fact(Home, "/root")
    fake.fact(Directory, {**DIR, "mode": 700}, path="/root/.ssh")
    fake.fact(FindInFile, [], path="/root/.ssh/known_hosts", pattern="git.example.com")
    assert run_op(fake, git.repo, src=SRC, dest="/srv/app", ssh_keyscan=True) == [
        "mkdir -p /srv/app",
        "ssh-keyscan -p 22 git.example.com >> /root/.ssh/known_hosts",
        f"cd /srv/app && git clone {SRC} .",
    ]
    _existing_repo(fake)
    fake.fact(FindInFile, ["git.example.com ssh-ed25519 AAAA"], path="/root/.ssh/known_hosts",
              pattern="git.example.com")
    assert run_op(fake, git.repo, src=SRC, dest="/srv/app", ssh_keyscan=True) == []
    assert "host key for git.example.com already exists" in fake.noops


def test_repo_bad_arguments_fail_at_the_deploy_line(tmp_path: Path) -> None:
    inventory, deploys = local_deploy(tmp_path, "from pyinfra.operations import git\n\n"
        "git.repo(name='bad', src='https://example.com/a.git', dest='/nonexistent/a',\n"
        "         ssh_keyscan=True)\n"
        "git.worktree(name='bad wt', worktree='/nonexistent/wt', repo='/nonexistent/r',\n"
        "             from_remote_branch='origin/main')\n")
    result = run_deploy(inventory, deploys)
    ops = result.host("@local").operations
    assert ops[0].status == OpStatus.FAILED
    assert f"{deploys[0]}:3" in (ops[0].error or "")
    assert "cannot find the SSH host" in (ops[0].error or "")
    with pytest.raises(git.OperationValueError, match="2-tuple"):
        run_op(FakeHost(), git.worktree, worktree="/w", repo="/r", from_remote_branch="o/m")
    with pytest.raises(git.OperationValueError, match="depth"):
        run_op(FakeHost(), git.repo, src=SRC, dest="/srv/app", depth=0)


def test_repo_against_real_git(remote_and_clone: tuple[Path, Path], tmp_path: Path) -> None:
    bare, work = remote_and_clone
    dest = tmp_path / "deployed"
    inventory, deploys = local_deploy(tmp_path, "from pyinfra.operations import git\n"
        f"git.repo(name='app', src='file://{bare}', dest='{dest}', branch='main')\n")
    outcomes = []
    for step in range(3):
        if step == 1:
            (work / "README").write_text("two\n")
            _git("commit", "-q", "-am", "two", cwd=work)
            _git("push", "-q", "origin", "HEAD:main", cwd=work)
        [op] = run_deploy(inventory, deploys).host("@local").operations
        outcomes.append(op.status)
    assert outcomes == [OpStatus.CHANGED, OpStatus.CHANGED, OpStatus.NO_CHANGE]
    assert (dest / "README").read_text() == "two\n"


# --------------------------------------------------------------------------- git.config


def test_config_levels_and_values(fake: FakeHost) -> None:
    fake.fact(GitConfig, {"user.name": ["Old"]}, system=False)
    assert run_op(fake, git.config, key="user.name", value="Anon E. Mouse") == [
        'git config --global user.name "Anon E. Mouse"']
    fake.fact(GitConfig, {"log.date": ["iso"]}, system=True)
    assert run_op(fake, git.config, key="log.date", value="iso", system=True) == []
    assert fake.noops == ["git config log.date is set to iso"]
    fake.fact(Directory, DIR, path="/srv/app/.git")
    fake.fact(GitConfig, {"safe.directory": ["/a"]}, repo="/srv/app")
    assert run_op(fake, git.config, key="safe.directory", value="/b", multi_value=True,
                  repo="/srv/app") == [
        'cd /srv/app && git config --local --add safe.directory "/b"']
    assert run_op(fake, git.config, key="safe.directory", value="/a", multi_value=True,
                  repo="/srv/app") == []


def test_config_value_is_never_expanded_by_the_shell(fake: FakeHost) -> None:
    fake.fact(Directory, None, path="/srv/new/.git")
    assert run_op(fake, git.config, key="alias.x", value='!echo "$HOME"', repo="/srv/new") == [
        r'cd /srv/new && git config --local alias.x "!echo \"\$HOME\""']


def test_config_bad_key_fails_at_the_deploy_line(tmp_path: Path) -> None:
    inventory, deploys = local_deploy(tmp_path, "from pyinfra.operations import git\n\n"
        "git.config(name='bad', key='', value='x')\n")
    [op] = run_deploy(inventory, deploys).host("@local").operations
    assert op.status == OpStatus.FAILED
    assert f"{deploys[0]}:3" in (op.error or "")
    assert "needs key" in (op.error or "")


# --------------------------------------------------------------------------- git.worktree


def test_worktree_add_with_owner(fake: FakeHost) -> None:
    fake.fact(Directory, None, path="/srv/hotfix")
    fake.fact(Directory, DIR, path="/srv/app/.git")
    assert run_op(fake, git.worktree, worktree="/srv/hotfix", repo="/srv/app",
                  new_branch="v1.0", commitish="4e091aa0", force=True, user="deploy") == [
        "cd /srv/app && git worktree add -b v1.0 --force /srv/hotfix 4e091aa0",
        "chown -R deploy /srv/hotfix",
        "chown -R deploy /srv/app/.git/worktrees/hotfix",
        "chown deploy /srv/app/.git/refs/heads/v1.0",
        "chown -R deploy /srv/app/.git/logs/refs/heads/v1.0",
    ]


def test_worktree_needs_a_repository(fake: FakeHost) -> None:
    fake.fact(Directory, None, path="/srv/hotfix")
    fake.fact(Directory, None, path="/srv/app/.git")
    with pytest.raises(git.OperationError, match="not a valid GIT repository : /srv/app"):
        run_op(fake, git.worktree, worktree="/srv/hotfix", repo="/srv/app")
    with pytest.raises(git.OperationValueError, match="needs repo="):
        run_op(fake, git.worktree, worktree="/srv/hotfix")


def test_worktree_pull_remove_and_no_change(fake: FakeHost) -> None:
    fake.fact(Directory, DIR, path="/srv/hotfix")
    fake.fact(GitTrackingBranch, "origin/main", repo="/srv/hotfix")
    fake.fact(GitLocalCommit, SHA_A, repo="/srv/hotfix")
    fake.fact(GitRemoteBranchCommit, SHA_A, repo="/srv/hotfix", remote="origin", branch="main")
    assert run_op(fake, git.worktree, worktree="/srv/hotfix", repo="/srv/app") == []
    assert fake.noops == ["git worktree /srv/hotfix is already up to date"]
    assert run_op(fake, git.worktree, worktree="/srv/hotfix", pull=False) == []
    assert fake.noops[-1] == "Pull is disabled"
    fake.fact(GitRemoteBranchCommit, SHA_B, repo="/srv/hotfix", remote="up", branch="dev")
    assert run_op(fake, git.worktree, worktree="/srv/hotfix", rebase=True,
                  from_remote_branch=("up", "dev")) == [
        "cd /srv/hotfix && git pull --rebase up dev"]
    assert run_op(fake, git.worktree, worktree="/srv/hotfix", present=False, force=True) == [
        "cd /srv/hotfix && git worktree remove . --force"]


# --------------------------------------------------------------------------- git.bare_repo


def test_bare_repo_create_owner_and_no_change(fake: FakeHost) -> None:
    fake.fact(Directory, None, path="/srv/git/app.git")
    fake.fact(File, None, path="/srv/git/app.git/HEAD")
    assert run_op(fake, git.bare_repo, path="/srv/git/app.git", user="git") == [
        "mkdir -p /srv/git/app.git", "git init --bare /srv/git/app.git",
        "chown -R git /srv/git/app.git",
    ]
    fake.fact(Directory, DIR, path="/srv/git/app.git")
    fake.fact(File, {"user": "root", "group": "root"}, path="/srv/git/app.git/HEAD")
    assert run_op(fake, git.bare_repo, path="/srv/git/app.git", group="git") == [
        "chgrp -R git /srv/git/app.git"]
    assert run_op(fake, git.bare_repo, path="/srv/git/app.git", user="root") == []
    assert fake.noops[-1] == "directory /srv/git/app.git already exists"


# --------------------------------------------------------------------------- against pyinfra

ORACLE_FACTS = r'''
import json, subprocess, sys
from pyinfra.facts import git
repo, missing = sys.argv[1], sys.argv[2]
reads = {
    "branch": (git.GitBranch, {"repo": repo}), "tags": (git.GitTag, {"repo": repo}),
    "config": (git.GitConfig, {"repo": repo}), "tracking": (git.GitTrackingBranch, {"repo": repo}),
    "local": (git.GitLocalCommit, {"repo": repo}),
    "remote": (git.GitRemoteBranchCommit, {"repo": repo, "branch": "main"}),
    "missing_branch": (git.GitBranch, {"repo": missing}),
    "missing_config": (git.GitConfig, {"repo": missing}),
}
out = {}
for key, (cls, kwargs) in reads.items():
    fact = cls()
    proc = subprocess.run(["/bin/sh", "-c", fact.command(**kwargs)], capture_output=True,
                          text=True, check=True)
    lines = proc.stdout.splitlines()
    default = fact.default() if callable(getattr(fact, "default", None)) else None
    out[key] = fact.process(lines) if lines else default
print(json.dumps(out))
'''


def test_facts_read_the_same_as_pyinfras(remote_and_clone: tuple[Path, Path],
                                        tmp_path: Path) -> None:
    _bare, work = remote_and_clone
    _git("tag", "v1", cwd=work)
    repo, missing = str(work), str(tmp_path / "missing")
    theirs = oracle_json(ORACLE_FACTS, [repo, missing])
    ours = {
        "branch": run_fact(GitBranch, repo=repo), "tags": run_fact(GitTag, repo=repo),
        "config": run_fact(GitConfig, repo=repo),
        "tracking": run_fact(GitTrackingBranch, repo=repo),
        "local": run_fact(GitLocalCommit, repo=repo),
        "remote": run_fact(GitRemoteBranchCommit, repo=repo, branch="main"),
        "missing_branch": run_fact(GitBranch, repo=missing),
        "missing_config": run_fact(GitConfig, repo=missing),
    }
    assert ours == theirs


def test_worktree_right_after_the_clone_and_an_unexpanded_value(
        remote_and_clone: tuple[Path, Path], tmp_path: Path) -> None:
    """Facts are read when each operation runs, so the worktree sees the clone made by the
    operation before it (pyinfra needs assume_repo_exists=True for this)."""
    bare, _work = remote_and_clone
    dest, tree = tmp_path / "app", tmp_path / "app-wt"
    inventory, deploys = local_deploy(tmp_path, "from pyinfra.operations import git\n"
        f"git.repo(name='app', src='file://{bare}', dest='{dest}')\n"
        f"git.worktree(name='wt', repo='{dest}', worktree='{tree}', detached=True)\n"
        f"git.config(name='v', key='test.value', value='$HOME \"x\"', repo='{dest}')\n")
    for expected in (OpStatus.CHANGED, OpStatus.NO_CHANGE):
        ops = run_deploy(inventory, deploys).host("@local").operations
        assert [op.status for op in ops] == [expected] * 3, [op.error for op in ops]
    assert (tree / "README").read_text() == "one\n"
    assert _git("config", "--local", "test.value", cwd=dest) == '$HOME "x"'
