"""Host keys in agent mode: a real agent, bed hosts whose inventory names no known_hosts file.

The agent refuses a host whose key it was never given ([ssh] known_hosts on this machine,
[ssh] repo_known_hosts in the commit) unless [ssh] accept_new_host_keys is true; a changed key
is refused in every mode; `pullinfra apply` still trusts a host on first contact, as pyinfra.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.acceptance_agent.fleet import app_state, expected_state, tree
from tests.acceptance_agent.harness import clean_env, report_of
from tests.agent.process import PULLINFRA

pytestmark = pytest.mark.bed

NOTHING = {"a": None, "b": None, "c": None}


def _without_known_hosts(host) -> dict:
    """The host's data with no known_hosts file and no strictness: the agent's rules apply."""
    return {k: v for k, v in host.ssh_data.items()
            if k not in ("ssh_known_hosts_file", "ssh_strict_host_key_checking")}


def _tree(hosts, **extra: str) -> dict[str, str]:
    lines = ["hosts = ["] + [f"    ({h.name!r}, {_without_known_hosts(h)!r})," for h in hosts]
    return {**tree(hosts), "inventory.py": "\n".join([*lines, "]"]) + "\n", **extra}


def _host_report(run: dict, host) -> dict:
    (entry,) = [h for h in report_of(run)["hosts"] if h["name"] == host.name]
    return entry


def _first_run(remote, make_agent, host, ssh: dict | None = None):
    """An agent with this [ssh] table, and its run of a commit whose inventory has `host`."""
    commit = remote.commit_and_push(_tree([host]), "hosts with no known key")
    agent = make_agent(url=remote.url, ssh=ssh).start()
    agent.wait_ready()
    return agent, agent.wait_finished(commit)


def _changed_key_line(host, directory: Path) -> str:
    """A known_hosts line for the host's address with a key of its type that is not its own."""
    key_type = host.bed.host_key.with_suffix(".pub").read_text().split()[0]
    other = directory / "other_host_key"
    kind = {"ssh-ed25519": "ed25519", "ssh-rsa": "rsa"}.get(key_type, "ecdsa")
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(other)], check=True)
    assert other.with_suffix(".pub").read_text().split()[0] == key_type
    return f"{host.address} {' '.join(other.with_suffix('.pub').read_text().split()[:2])}\n"


def test_unknown_host_key_is_refused_by_default_and_nothing_is_applied(
        remote, bed_hosts, make_agent, tmp_path):
    (host,) = bed_hosts(1)
    agent, run = _first_run(remote, make_agent, host)

    entry = _host_report(run, host)
    assert entry["status"] == "unreachable", agent.describe()
    error = entry["error"]
    assert f"host key of {host.address} not known" in error, error
    assert "[ssh] known_hosts" in error and "accept_new_host_keys = true" in error, error
    assert report_of(run)["summary"]["hosts"]["unreachable"] == 1
    assert app_state(host) == NOTHING
    assert not (tmp_path / "agent" / "state" / "known_hosts").exists()


def test_known_hosts_from_the_config_lets_the_run_apply(
        remote, bed_hosts, bed_known_hosts, make_agent):
    (host,) = bed_hosts(1)
    agent, run = _first_run(remote, make_agent, host, {"known_hosts": str(bed_known_hosts)})
    assert run["status"] == "changed", agent.describe()
    assert app_state(host) == expected_state()


def test_known_hosts_from_the_commit_being_applied(
        remote, bed_hosts, bed_known_hosts, make_agent):
    (host,) = bed_hosts(1)
    missing = remote.commit_and_push(_tree([host]), "no known_hosts file yet")
    agent = make_agent(url=remote.url, ssh={"repo_known_hosts": "ssh/known_hosts"}).start()
    agent.wait_ready()
    run = agent.wait_finished(missing)
    assert run["status"] == "failed", agent.describe()
    assert "ssh/known_hosts is not a file in this commit" in _host_report(run, host)["error"]
    assert app_state(host) == NOTHING

    keyed = remote.commit_and_push(
        _tree([host], **{"ssh/known_hosts": bed_known_hosts.read_text()}), "known_hosts")
    run = agent.wait_finished(keyed)
    assert run["status"] == "changed", agent.describe()
    assert app_state(host) == expected_state()


def test_accept_new_host_keys_applies_and_records_the_key_in_the_state_dir(
        remote, bed_hosts, make_agent, tmp_path):
    (host,) = bed_hosts(1)
    agent, run = _first_run(remote, make_agent, host, {"accept_new_host_keys": True})
    assert run["status"] == "changed", agent.describe()
    assert app_state(host) == expected_state()

    recorded = tmp_path / "agent" / "state" / "known_hosts"
    (line,) = recorded.read_text().splitlines()
    served = host.bed.host_key.with_suffix(".pub").read_text().split()[:2]
    assert line.split() == [host.address, *served]
    assert recorded.stat().st_mode & 0o777 == 0o600


def test_changed_host_key_is_refused_by_the_agent_even_when_accepting_new_keys(
        remote, bed_hosts, make_agent, tmp_path):
    (host,) = bed_hosts(1)
    wrong = tmp_path / "wrong_known_hosts"
    wrong.write_text(_changed_key_line(host, tmp_path))
    agent, run = _first_run(remote, make_agent, host,
                            {"known_hosts": str(wrong), "accept_new_host_keys": True})

    entry = _host_report(run, host)
    assert entry["status"] == "unreachable", agent.describe()
    assert f"host key for {host.address} changed" in entry["error"], entry["error"]
    assert app_state(host) == NOTHING
    assert not (tmp_path / "agent" / "state" / "known_hosts").exists()


def _apply(tmp_path: Path, host, home: Path) -> subprocess.CompletedProcess[str]:
    """`pullinfra apply` as a person runs it, with `home` as ~ (its ~/.ssh/known_hosts)."""
    files = _tree([host])
    for name in ("inventory.py", "deploy.py", "files/a.conf", "files/b.conf", "files/c.conf"):
        path = tmp_path / "repo" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[name])
    return subprocess.run(
        [str(PULLINFRA), "apply", "inventory.py", "deploy.py"], cwd=tmp_path / "repo",
        env={**clean_env(), "HOME": str(home)}, capture_output=True, text=True, timeout=300)


def test_pullinfra_apply_still_accepts_an_unknown_key_and_records_it(bed_hosts, tmp_path):
    (host,) = bed_hosts(1)
    home = tmp_path / "home"
    home.mkdir()
    done = _apply(tmp_path, host, home)
    assert done.returncode == 0, done.stdout + done.stderr
    assert app_state(host) == expected_state()
    assert host.address in (home / ".ssh" / "known_hosts").read_text()
    assert os.stat(home / ".ssh").st_mode & 0o777 == 0o700


def test_pullinfra_apply_refuses_a_changed_key(bed_hosts, tmp_path):
    (host,) = bed_hosts(1)
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "known_hosts").write_text(_changed_key_line(host, tmp_path))
    done = _apply(tmp_path, host, home)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"host key for {host.address} changed" in done.stdout + done.stderr
    assert app_state(host) == NOTHING
