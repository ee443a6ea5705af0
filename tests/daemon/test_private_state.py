"""The agent's state is its user's alone whatever the umask: the state dir, the clone, every
exported commit (group_data secrets included), the DB that holds the outbox, the hosts'
known_hosts. The agent writes no log files (logs go to stderr, the journal under systemd)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.acceptance_agent.fleet import app_state, expected_state, tree
from tests.acceptance_agent.harness import agent_config, clean_env, to_toml
from tests.agent.gitfixtures import Remote
from tests.agent.process import PULLINFRA

ROOT = Path(__file__).resolve().parents[2]


def _modes(state: Path) -> dict[str, int]:
    """Every path under `state` (itself as "."), with its permission bits."""
    found = {".": stat.S_IMODE(state.stat().st_mode)}
    for path in state.rglob("*"):
        found[str(path.relative_to(state))] = stat.S_IMODE(path.lstat().st_mode)
    return found


@pytest.mark.bed
def test_state_made_under_umask_022_is_owner_only(bed_hosts, tmp_path):
    (host,) = bed_hosts(1)
    remote = Remote(tmp_path / "git")
    data = {k: v for k, v in host.ssh_data.items()
            if k not in ("ssh_known_hosts_file", "ssh_strict_host_key_checking")}
    inventory = f"hosts = [({host.name!r}, {data!r})]\n"
    commit = remote.commit_and_push({**tree([host]), "inventory.py": inventory,
                                     "group_data/all.py": "app_password = 'hunter2'\n"}, "A")
    state = tmp_path / "state"
    config = agent_config(url=remote.url, port=9, state_dir=state,
                          ssh={"accept_new_host_keys": True})
    (tmp_path / "agent.toml").write_text(to_toml(config))
    # A state dir an older version made world-readable is closed at start.
    state.mkdir()
    state.chmod(0o755)

    done = subprocess.run(
        [str(PULLINFRA), "agent", "--config", str(tmp_path / "agent.toml"), "--once"],
        cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=300,
        preexec_fn=lambda: os.umask(0o022))
    assert done.returncode == 0, done.stdout + done.stderr
    assert app_state(host) == expected_state()

    modes = _modes(state)
    export = f"source/checkouts/{commit}"
    assert {k: oct(v) for k, v in modes.items() if k in (
        ".", "source", "source/checkouts", "state.db", "known_hosts", export)} == {
        ".": "0o700", "source": "0o700", "source/checkouts": "0o700", "state.db": "0o600",
        "known_hosts": "0o600", export: "0o500"}
    assert (state / export / "group_data/all.py").is_file()
    # Everything else the agent and git wrote (the clone, the DB's WAL) is owner-only too;
    # inside an export, files keep git's read bits behind the export's 0500.
    loose = {k: oct(v) for k, v in modes.items()
             if v & 0o077 and not k.startswith(f"{export}/")}
    assert loose == {}
    assert not [k for k in modes if k.endswith(".log")]


def test_every_shipped_service_makes_its_state_directory_0700():
    units = sorted((ROOT / "agent/daemon/units").glob("*.service"))
    assert [u.name for u in units] == ["pullinfra-local.service", "pullinfra-once.service",
                                       "pullinfra.service"]
    for unit in units:
        lines = unit.read_text().splitlines()
        assert "StateDirectory=pullinfra" in lines, unit.name
        assert "StateDirectoryMode=0700" in lines, unit.name
