"""Differential cases for the git operations: real pyinfra 3.10 and pullinfra on fresh bed
hosts, cloning from a bare repository that another bed host serves over SSH, and from a
file:// one on the host itself.

The serving host is one more bed host, outside the case's: both tools' hosts reach it at its
address with the bed's client key (copied to root's ~/.ssh) and learn its host key through
git.repo's `ssh_keyscan`. Commits are made with fixed dates, so the same content has the
same commit id on every host and the two sides' HEADs compare equal.
"""

from __future__ import annotations

import concurrent.futures
import shlex

import pytest

from tests.differential import harness, state_git
from tests.differential.harness import Case, Comparison, Observation
from tests.testbed import Host

GIT = ("GIT_AUTHOR_DATE='2026-01-01T00:00:00Z' GIT_COMMITTER_DATE='2026-01-01T00:00:00Z' "
       "git -c user.email=bed@example.com -c user.name=bed -c init.defaultBranch=main")
SERVED = "/srv/git/app.git"
SOURCE = "/root/app-src"


def _bare_with_commit(host: Host, bare: str, work: str, text: str) -> None:
    """A bare repository at `bare` whose main branch has one commit (README = text), made
    from a working copy at `work`."""
    host.run(f"""set -e
mkdir -p "$(dirname {bare})"
{GIT} init -q --bare {bare}
{GIT} init -q {work}
cd {work}
printf '%s\\n' {shlex.quote(text)} > README
{GIT} add README
{GIT} commit -q -m first
{GIT} push -q {bare} HEAD:main
""", check=True)


def push_commit(host: Host, text: str) -> str:
    """A new commit (README = text) pushed to the served repository; its id."""
    host.run(f"""set -e
cd {SOURCE}
printf '%s\\n' {shlex.quote(text)} > README
{GIT} commit -q -am {shlex.quote(text)}
{GIT} push -q {SERVED} HEAD:main
""", check=True)
    return host.run(f"git -C {SERVED} rev-parse main", check=True).stdout.strip()


def serve(host: Host) -> str:
    """Make `host` the SSH git server; the commit id of its main branch."""
    _bare_with_commit(host, SERVED, SOURCE, "one")
    return host.run(f"git -C {SERVED} rev-parse main", check=True).stdout.strip()


def client(host: Host) -> None:
    """A host that clones: root's SSH key (the bed's client key, which every bed host's root
    accepts) and a file:// bare repository of its own."""
    host.run("mkdir -p -m 700 /root/.ssh", check=True)
    host.write_file("/root/.ssh/id_ed25519", host.bed.client_key.read_bytes(), mode=0o600)
    _bare_with_commit(host, "/srv/local.git", "/root/local-src", "local")


@pytest.fixture
def remote(bed_hosts) -> tuple[Host, str]:
    """The serving host and its main commit; taken before the case's hosts."""
    [host] = bed_hosts(1)
    return host, serve(host)


# Real pyinfra runs every operation's body once while loading the deploy, before any command
# has run, so git.worktree cannot see the repository git.repo clones just before it:
# assume_repo_exists says it will be there.
FULL_DEPLOY = '''
from pyinfra import host
from pyinfra.operations import git

src = "root@" + host.data.git_remote + ":/srv/git/app.git"
git.config(name="trust every working copy", key="safe.directory", value="*", system=True)
git.config(name="identity", key="user.name", value="Pull Infra")
git.repo(name="clone over ssh", src=src, dest="/srv/app", branch="main", ssh_keyscan=True,
         user="deploy", group="deploy")
git.config(name="prune", key="fetch.prune", value="true", repo="/srv/app")
git.config(name="push refs", key="remote.origin.push", value="refs/heads/main",
           multi_value=True, repo="/srv/app")
git.repo(name="clone file", src="file:///srv/local.git", dest="/srv/local", depth=1,
         rebase=True)
git.worktree(name="detached worktree", repo="/srv/local", worktree="/srv/local-wt",
             detached=True, commitish="main", assume_repo_exists=True)
git.bare_repo(name="new bare", path="/srv/git/new.git", user="deploy", group="deploy")
'''

FULL_REPOS = ["/srv/app", "/srv/local", "/srv/local-wt", "/srv/git/new.git"]
FULL_FILES = ["/srv/app", "/srv/app/README", "/srv/local/README", "/srv/local-wt/README",
              "/srv/git/new.git", "/srv/git/new.git/HEAD", "/root/.ssh/known_hosts"]


def test_git_operations_match_pyinfra(differential, remote: tuple[Host, str]) -> None:
    server, commit = remote
    case = Case(
        name="git config levels, clone over ssh and file://, worktree, bare repo",
        deploy=FULL_DEPLOY,
        data={"git_remote": server.address},
        setup=client,
        state=lambda h: state_git.checkout(h, FULL_REPOS, FULL_FILES[:-1])
        | {"known_hosts_has_remote": server.address in (h.read_text("/root/.ssh/known_hosts")
                                                        or "")},
    )
    comparison = differential.run(case)
    comparison.assert_same()
    ours = comparison.pullinfra.state["h1"]
    assert ours["repos"]["/srv/app"]["head"] == commit
    assert ours["repos"]["/srv/app"]["branch"] == "main"
    assert ours["files"]["/srv/app/README"]["owner"] == "deploy"
    assert ours["known_hosts_has_remote"] is True


PULL_DEPLOY = '''
from pyinfra import host
from pyinfra.operations import git

git.repo(name="app", src="root@" + host.data.git_remote + ":/srv/git/app.git",
         dest="/srv/app", ssh_keyscan=True)
'''


def test_pull_over_ssh_follows_a_new_remote_commit(bed_hosts, remote: tuple[Host, str],
                                                   tmp_path) -> None:
    """Run 1 clones, a commit is pushed to the serving host, run 2 pulls it, run 3 has
    nothing to do; the same on both tools."""
    server, first = remote
    theirs, ours = bed_hosts(2)
    for host in (theirs, ours):
        client(host)
    case = Case(name="pull over ssh", deploy=PULL_DEPLOY, data={"git_remote": server.address},
                state=lambda h: state_git.checkout(h, ["/srv/app"], ["/srv/app/README"]))
    their_project = harness._write_project(tmp_path / "pyinfra", case, [theirs])
    our_project = harness._write_project(tmp_path / "pullinfra", case, [ours])
    their_runs, our_runs, our_errors = [], [], {}
    heads = []
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        for step in range(3):
            if step == 1:
                second = push_commit(server, "two")
            pending = pool.submit(harness._run_pyinfra, *their_project)
            ops, errors = harness._run_pullinfra(*our_project)
            our_runs.append(ops)
            our_errors.update(errors)
            their_runs.append(pending.result())
            heads.append(state_git.repos(ours, ["/srv/app"])["/srv/app"]["head"])
    comparison = Comparison(
        case,
        Observation("pyinfra", their_runs, harness._states(case, [theirs])),
        Observation("pullinfra", our_runs, harness._states(case, [ours]), our_errors),
    )
    comparison.assert_same()
    assert [run["h1"][0].changed for run in our_runs] == [True, True, False]
    assert heads == [first, second, second]
    assert comparison.pullinfra.state["h1"]["files"]["/srv/app/README"]["exists"]
    assert (ours.read_text("/srv/app/README") or "") == "two\n"


def _branches_and_submodule(host: Host) -> None:
    """/srv/lib.git (one commit), /srv/main.git whose `release` branch adds lib as a
    submodule, and /srv/app: a clone of main.git still on `main`."""
    _bare_with_commit(host, "/srv/lib.git", "/root/lib-src", "lib")
    _bare_with_commit(host, "/srv/main.git", "/root/main-src", "main")
    host.run(f"""set -e
cd /root/main-src
{GIT} checkout -q -b release
{GIT} -c protocol.file.allow=always submodule -q add file:///srv/lib.git lib
{GIT} commit -q -m "lib as a submodule"
{GIT} push -q /srv/main.git release
{GIT} clone -q file:///srv/main.git /srv/app
""", check=True)


def test_branch_switch_with_submodules_matches_pyinfra(differential) -> None:
    """Run 1 fetches and checks out `release` (already at the remote's tip: no pull) and
    initialises its submodule. Both tools report run 2 as changed too: pyinfra runs
    `submodule update` on every run, and pullinfra does the same."""
    case = Case(
        name="branch switch and recursive submodules from file://",
        deploy='''
from pyinfra.operations import git
git.config(name="file submodules", key="protocol.file.allow", value="always", system=True)
git.repo(name="release", src="file:///srv/main.git", dest="/srv/app", branch="release",
         update_submodules=True, recursive_submodules=True)
''',
        setup=_branches_and_submodule,
        state=lambda h: state_git.checkout(h, ["/srv/app", "/srv/app/lib"],
                                           ["/srv/app/README", "/srv/app/lib/README"]),
    )
    comparison = differential.run(case)
    comparison.assert_same()
    ours = comparison.pullinfra
    assert [op.changed for op in ours.runs[0]["h1"]] == [True, True]
    assert [op.changed for op in ours.runs[1]["h1"]] == [False, True]
    assert ours.state["h1"]["repos"]["/srv/app"]["branch"] == "release"
    assert ours.state["h1"]["files"]["/srv/app/lib/README"]["exists"]
