"""Acceptance of the whole catalogue: tests/acceptance/test_host_catalogue.py's deploy of
server, systemd, sysvinit, crontab and python operations, extended with files, apt, git and
pip, so that one pyinfra deploy uses more than forty distinct operations on five bed hosts.

Every source stays on the bed: apt's signed repository and loose .deb from
tests/testbed/aptrepo.py (under /var/cache, which the hosts see as this machine does), git
from a file:// bare repository made on each host, pip from a wheel directory of
tests/ops/wheels.py's wheels. The first run changes every operation on every host, the second
changes none (the operations that always change run under `_if=<op>.did_change`), and `plan`
on hosts changed by hand lists exactly that drift, with a unified diff for edited files.
"""

from __future__ import annotations

import ast
import concurrent.futures
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.vocab import OpStatus
from tests.acceptance.conftest import pullinfra
from tests.acceptance.test_host_catalogue import (
    DEPLOY,
    DISTINCT_OPERATIONS,
    FILES,
    GATED,
    _assert_converged,
    _report,
    _statuses,
)
from tests.differential import state_pip
from tests.testbed import Host
from tests.testbed.aptrepo import AptRepoError, SignedRepo, ensure_signed_repo

pytestmark = pytest.mark.bed

KEYRING = "/etc/apt/keyrings/pullinfra-testbed.gpg"
GIT = ("GIT_AUTHOR_DATE='2026-01-01T00:00:00Z' GIT_COMMITTER_DATE='2026-01-01T00:00:00Z' "
       "git -c user.email=bed@example.com -c user.name=bed -c init.defaultBranch=main")
MOTD = "Managed by pullinfra.\nDo not edit by hand.\n"

EXTRA = '''
from pyinfra.operations import apt, files, git, pip

files.directory(name="conf dir", path="/srv/app-conf", user="app", group="app", mode=755)
files.put(name="motd", src="files/motd", dest="/etc/motd.pullinfra", mode=644)
files.template(name="app config", src="templates/app.conf.j2", dest="/srv/app-conf/app.conf",
               port=8080)
files.file(name="env file", path="/srv/app-conf/env", user="app", mode=640)
files.link(name="config link", path="/srv/app-conf/current.conf",
           target="/srv/app-conf/app.conf")
files.line(name="env line", path="/srv/app-conf/env", line="APP_ENV=production")
files.block(name="env block", path="/srv/app-conf/env", content="A=1\\nB=2")
files.replace(name="legacy listen", path="/etc/app-legacy.conf", text="^listen=127.0.0.1$",
              replace="listen=0.0.0.0")

apt.key(name="apt key", src="KEY_ASC")
repo = apt.repo(name="apt repo", src="SOURCES_LINE", filename="pullinfra-signed")
apt.update(name="apt update", _if=repo.did_change)
apt.packages(name="apt package", packages=["pullinfra-signed"])
apt.deb(name="apt deb", src="DEB_FILE")

git.config(name="git system", key="safe.directory", value="*", system=True)
git.config(name="git identity", key="user.name", value="Pull Infra")
git.bare_repo(name="bare repo", path="/srv/git/new.git", user="app", group="app")
git.repo(name="clone", src="file:///srv/origin.git", dest="/srv/checkout", branch="main")
git.worktree(name="worktree", repo="/srv/checkout", worktree="/srv/checkout-wt",
             detached=True, commitish="main", assume_repo_exists=True)

pip.venv(name="venv", path="/opt/venv", python="python3")
pip.virtualenv(name="virtualenv", path="/opt/venv2", venv=True, python="python3")
pip.packages(name="pip packages", packages=["pullinfra-demo==1.0", "pullinfra_other"],
             virtualenv="/opt/venv", extra_install_args="FIND_LINKS")

server.shell(name="shell", commands=["echo shell > /var/lib/app/shell-done"],
             _if=grp.did_change)
'''

EXTRA_FILES = {
    "files/motd": MOTD,
    "templates/app.conf.j2": "# for {{ host.name }}\nport = {{ port }}\n",
}

EXTRA_OPERATIONS = {
    "files.directory", "files.put", "files.template", "files.file", "files.link",
    "files.line", "files.block", "files.replace",
    "apt.key", "apt.repo", "apt.update", "apt.packages", "apt.deb",
    "git.config", "git.bare_repo", "git.repo", "git.worktree",
    "pip.venv", "pip.virtualenv", "pip.packages",
    "server.shell",
}
ALL_GATED = GATED | {"apt update", "shell"}


def _deploy(signed: SignedRepo) -> str:
    extra = (EXTRA.replace("KEY_ASC", str(signed.key_asc))
             .replace("SOURCES_LINE", signed.sources_line(KEYRING))
             .replace("DEB_FILE", str(signed.deb_file))
             .replace("FIND_LINKS", state_pip.FIND_LINKS))
    return DEPLOY + extra


def _prepare(host: Host) -> None:
    """What the deploy takes from the host itself: a bare repository of two commits, the
    wheel directory, and a legacy config for files.replace."""
    host.run(f"""set -e
mkdir -p /srv
{GIT} init -q --bare /srv/origin.git
{GIT} init -q /root/origin-src
cd /root/origin-src
echo one > README
{GIT} add README
{GIT} commit -q -m one
echo two > README
{GIT} commit -q -am two
{GIT} push -q /srv/origin.git HEAD:main
""", check=True)
    state_pip.write_wheels(host)
    host.write_file("/etc/app-legacy.conf", "# legacy\nlisten=127.0.0.1\n")


@pytest.fixture
def full_fleet(bed_hosts, systemd_hosts, bed_inventory,
               write: Callable[[str, str], Path]) -> tuple[dict[str, Host], Path, Path]:
    try:
        signed = ensure_signed_repo()
    except (AptRepoError, OSError) as exc:
        pytest.fail(f"cannot build the signed apt repository: {exc}", pytrace=False)
    plain = dict(zip(["web-01", "web-02", "web-03"], bed_hosts(3), strict=True))
    booted = dict(zip(["sd-01", "sd-02"], systemd_hosts(2), strict=True))
    hosts = plain | booted
    with concurrent.futures.ThreadPoolExecutor(len(hosts)) as pool:
        list(pool.map(_prepare, hosts.values()))
    inventory = bed_inventory(hosts, groups={"sysv_hosts": list(plain),
                                             "systemd_hosts": list(booted)})
    for name, text in (FILES | EXTRA_FILES).items():
        write(name, text)
    return hosts, inventory, write("deploy.py", _deploy(signed))


def _assert_extras(hosts: dict[str, Host]) -> None:
    """A representative effect of each family beyond test_host_catalogue's."""
    for name, host in hosts.items():
        assert host.read_text("/etc/motd.pullinfra") == MOTD, name
        assert host.read_text("/srv/app-conf/app.conf") == f"# for {name}\nport = 8080\n"
        assert host.run("readlink /srv/app-conf/current.conf").stdout.strip() \
            == "/srv/app-conf/app.conf", name
        env = host.read_text("/srv/app-conf/env") or ""
        assert "APP_ENV=production\n" in env and "A=1\nB=2\n" in env, (name, env)
        assert host.stat("/srv/app-conf/env").st_mode & 0o777 == 0o640, name
        assert host.read_text("/etc/app-legacy.conf") == "# legacy\nlisten=0.0.0.0\n", name
        assert host.stat(KEYRING) is not None, name
        assert host.package_version("pullinfra-signed") == "1.0", name
        assert host.package_version("pullinfra-debfile") == "1.0", name
        assert host.run("git config --system safe.directory").stdout.strip() == "*", name
        assert host.run("git config --global user.name").stdout.strip() == "Pull Infra"
        assert host.run("git -C /srv/checkout rev-parse HEAD").stdout \
            == host.run("git -C /srv/origin.git rev-parse main").stdout, name
        assert host.read_text("/srv/checkout-wt/README") == "two\n", name
        assert host.stat("/srv/git/new.git/HEAD").st_uid == host.stat("/home/app").st_uid
        demo = host.run(["/opt/venv/bin/python", "-c",
                         "import pullinfra_demo, pullinfra_other; print(pullinfra_demo.VERSION)"])
        assert demo.stdout.strip() == "1.0", (name, demo.stderr)
        assert host.stat("/opt/venv2/bin/activate") is not None, name
        assert host.read_text("/var/lib/app/shell-done") == "shell\n", name


def _drift_by_hand(hosts: dict[str, Host]) -> None:
    web1, web3, sd2 = hosts["web-01"], hosts["web-03"], hosts["sd-02"]
    web1.write_file("/etc/motd.pullinfra", "Managed by pullinfra.\nEdited by hand.\n")
    web1.run("git -C /srv/checkout reset -q --hard HEAD~1", check=True)
    web3.run("dpkg -r pullinfra-signed >/dev/null", check=True, timeout=300)
    web3.write_file("/srv/app-conf/app.conf", "# for web-03\nport = 9090\n")
    sd2.run("usermod -s /bin/sh app", check=True)
    sd2.run("/opt/venv/bin/pip uninstall -q -y pullinfra_other", check=True, timeout=300)


DRIFT = {("web-01", "motd"), ("web-01", "clone"), ("web-03", "apt package"),
         ("web-03", "app config"), ("sd-02", "user"), ("sd-02", "pip packages")}


def test_the_full_deploy_changes_then_settles_and_plan_shows_only_the_drift(
        full_fleet) -> None:
    hosts, inventory, deploy = full_fleet

    first = _report(pullinfra("apply", inventory, deploy, "--json", timeout=900))
    assert first["summary"]["hosts"]["failed"] == 0, [h.get("error") for h in first["hosts"]]
    first_statuses = _statuses(first)
    assert set(first_statuses.values()) == {OpStatus.CHANGED}, {
        k: v for k, v in first_statuses.items() if v != OpStatus.CHANGED}
    assert {h for (h, _) in first_statuses} == set(hosts)
    _assert_converged(hosts)
    _assert_extras(hosts)

    second = _report(pullinfra("apply", inventory, deploy, "--json", timeout=900))
    second_statuses = _statuses(second)
    assert {op for (_, op), status in second_statuses.items()
            if status == OpStatus.SKIPPED} == ALL_GATED
    assert {status for (_, op), status in second_statuses.items()
            if op not in ALL_GATED} == {OpStatus.NO_CHANGE}, second_statuses

    _drift_by_hand(hosts)
    proc = pullinfra("plan", inventory, deploy, "--json", "--detailed-exitcode", timeout=900)
    planned = _report(proc)
    assert proc.returncode == 3, proc.stderr[-4000:]
    drift = {key for key, status in _statuses(planned).items() if status == OpStatus.CHANGED}
    assert drift == DRIFT, drift
    assert {status for key, status in _statuses(planned).items()
            if key not in DRIFT and key[1] not in ALL_GATED} == {OpStatus.NO_CHANGE}
    diffs = {(h["name"], op["name"]): op.get("diff")
             for h in planned["hosts"] for op in h["operations"]}
    assert "-Edited by hand." in diffs[("web-01", "motd")]
    assert "+Do not edit by hand." in diffs[("web-01", "motd")]
    assert "/etc/motd.pullinfra" in diffs[("web-01", "motd")]
    assert "-port = 9090" in diffs[("web-03", "app config")]
    assert "+port = 8080" in diffs[("web-03", "app config")]
    assert {key for key, diff in diffs.items() if diff} == {("web-01", "motd"),
                                                            ("web-03", "app config")}
    # The console output on stderr shows the same diffs under the pending operations.
    for line in ("-Edited by hand.", "+Do not edit by hand.", "-port = 9090", "+port = 8080"):
        assert line in proc.stderr, proc.stderr[-4000:]
    # plan changes nothing
    assert hosts["web-03"].package_version("pullinfra-signed") is None
    assert hosts["sd-02"].run("getent passwd app").stdout.strip().endswith(":/bin/sh")


def test_the_full_deploy_uses_forty_distinct_operations() -> None:
    signed = SignedRepo(Path("/k.asc"), Path("/k.asc"), Path("/k.gpg"), "0" * 40,
                        Path("/x.deb"))
    called = {f"{module}.{name}" for module, name in _operations(_deploy(signed))}
    assert called == DISTINCT_OPERATIONS | EXTRA_OPERATIONS
    assert len(called) >= 40


def _operations(code: str) -> set[tuple[str, str]]:
    modules = {"apt", "crontab", "files", "git", "pip", "python", "server", "systemd",
               "sysvinit"}
    found = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if isinstance(owner, ast.Name) and owner.id in modules:
                found.add((owner.id, node.func.attr))
    return found
