"""SSH inventory options against the test bed's real sshd hosts, beside real pyinfra 3.10.

Each test runs the same inventory through real pyinfra (the oracle venv, run_real_pyinfra.py)
and through pullinfra, and checks on the host that both got there, and how: the user a
command ran as, the peer address in the target's sshd log, the agent a command could see.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.compat import run_deploy
from agent.engine.connectors.base import ConnectError
from agent.engine.connectors.ssh import SSHConnector
from agent.engine.run import RunOptions
from tests.oracle import run_oracle_file
from tests.testbed import Host

pytestmark = pytest.mark.bed

REAL_PYINFRA = Path(__file__).parents[1] / "differential" / "run_real_pyinfra.py"
NO_AGENT = {"ssh_allow_agent": False, "ssh_look_for_keys": False}


def _deploy(root: Path, command: str) -> Path:
    """A pyinfra deploy running one shell command; both tools run this same file."""
    root.mkdir(parents=True, exist_ok=True)
    deploy = root / "deploy.py"
    deploy.write_text(
        "from pyinfra import host\n"
        "from pyinfra.operations import server\n\n"
        f"server.shell(name='reach', commands=[{command!r}])\n"
    )
    return deploy


def _inventory(root: Path, entries: list[tuple[str, dict[str, Any]]]) -> Path:
    inventory = root / "inventory.py"
    inventory.write_text(f"hosts = {entries!r}\n")
    return inventory


def _both(inventory: Path, deploy: Path) -> tuple[dict[str, Any], Any]:
    """Run real pyinfra, then pullinfra; pyinfra's per-host ops and pullinfra's result."""
    proc = run_oracle_file(REAL_PYINFRA, [str(inventory), str(deploy)], cwd=deploy.parent,
                           timeout=120, check=False)
    assert proc.returncode == 0, f"real pyinfra failed:\n{proc.stdout}\n{proc.stderr}"
    oracle = json.loads(proc.stdout)["hosts"]
    ours = run_deploy(inventory, [deploy], RunOptions(project_root=deploy.parent))
    return oracle, ours


def _reached(oracle: dict[str, Any], ours: Any, name: str) -> None:
    assert oracle[name] == [["reach", True, True]], oracle
    result = ours.host(name)
    assert result.status == "changed", result.error


def _known_hosts_for_port(bed_known_hosts: Path, host: Host, port: int, dest: Path) -> Path:
    """The bed's known_hosts plus this host's key under `[address]:port`."""
    lines = bed_known_hosts.read_text().splitlines()
    key = next(line.split(" ", 1)[1] for line in lines if line.startswith(f"{host.address} "))
    dest.write_text("\n".join([*lines, f"[{host.address}]:{port} {key}"]) + "\n")
    return dest


def _accepted_from(host: Host) -> list[str]:
    """The peer address of every login in the host's sshd log."""
    log = host.read_text("/run/sshd.log") or ""
    return [line.split(" from ", 1)[1].split(" ")[0]
            for line in log.splitlines() if "Accepted publickey" in line]


def test_ssh_name_form_runs_a_deploy(bed_hosts, tmp_path):
    (host,) = bed_hosts(1)
    data = {k: v for k, v in host.ssh_data.items() if k != "ssh_hostname"}
    name = f"@ssh/{host.address}"
    inventory = _inventory(tmp_path, [(name, data)])
    deploy = _deploy(tmp_path, "echo NAME >> /tmp/reached-by")
    # host.name as each tool's deploy sees it: pyinfra's is the whole `@ssh/<address>`
    deploy.write_text(deploy.read_text().replace("'echo NAME", "f'echo {host.name}"))
    oracle, ours = _both(inventory, deploy)
    _reached(oracle, ours, name)
    assert host.read_text("/tmp/reached-by").split() == [name, name]


def test_ssh_config_alias_gives_hostname_user_port_and_key(bed_hosts, bed_client_key,
                                                           bed_known_hosts, tmp_path):
    (host,) = bed_hosts(1)
    # sshd on 2222 only: reaching the host at all proves the config's Port was used.
    sshd_config = host.read_text("/etc/ssh/sshd_config") or ""
    assert "Port 22\n" in sshd_config
    host.write_file("/etc/ssh/sshd_config", sshd_config.replace("Port 22\n", "Port 2222\n"))
    host.stop_sshd()
    host.start_sshd(wait=False)
    _wait_port(host.address, 2222)

    known = _known_hosts_for_port(bed_known_hosts, host, 2222, tmp_path / "known_hosts")
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host web-alias\n"
        f"    HostName {host.address}\n"
        f"    User deploy\n"
        f"    Port 2222\n"
        f"    IdentityFile {bed_client_key}\n"
    )
    data = {"ssh_config_file": str(config), "ssh_known_hosts_file": str(known),
            "ssh_strict_host_key_checking": "yes", **NO_AGENT}
    inventory = _inventory(tmp_path, [("web-alias", data)])
    deploy = _deploy(tmp_path, "id -un >> /tmp/who")
    oracle, ours = _both(inventory, deploy)
    _reached(oracle, ours, "web-alias")
    assert host.read_text("/tmp/who").split() == ["deploy", "deploy"]


def _wait_port(address: str, port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((address, port), timeout=0.5) as s:
                if s.recv(8).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing answers SSH on {address}:{port}")
        time.sleep(0.05)


@pytest.mark.parametrize("through", ["ProxyJump", "ProxyCommand"])
def test_jump_host_carries_the_connection(bed_hosts, bed_client_key, bed_known_hosts,
                                          tmp_path, through):
    jump, target = bed_hosts(2)
    # The target lets in only logins that come from the jump host's address: a direct
    # connection from this machine is refused, so reaching it at all means through the jump.
    sshd_config = target.read_text("/etc/ssh/sshd_config") or ""
    target.write_file("/etc/ssh/sshd_config", sshd_config + f"AllowUsers *@{jump.address}\n")
    target.stop_sshd()
    target.start_sshd()
    direct = SSHConnector("direct", target.ssh_data)
    with pytest.raises(ConnectError, match="authentication failed"):
        direct.connect()

    # ProxyJump: the connector logs in to the jump host itself and opens a direct-tcpip
    # channel; ProxyCommand: OpenSSH's own client does that (-W) and pipes the connection.
    route = "ProxyJump jumper" if through == "ProxyJump" else (
        f"ProxyCommand {' '.join(jump.ssh_argv()[:-1])} -W %h:%p root@{jump.address}")
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host target\n"
        f"    HostName {target.address}\n"
        f"    {route}\n"
        f"Host jumper\n"
        f"    HostName {jump.address}\n"
        f"    User root\n"
        f"    IdentityFile {bed_client_key}\n"
        # pyinfra asks on the terminal about a jump host's unknown key unless told
        f"    StrictHostKeyChecking yes\n"
        f"    UserKnownHostsFile {bed_known_hosts}\n"
    )
    data = {"ssh_config_file": str(config), "ssh_user": "root", "ssh_key": str(bed_client_key),
            "ssh_known_hosts_file": str(bed_known_hosts),
            "ssh_strict_host_key_checking": "yes", **NO_AGENT}
    inventory = _inventory(tmp_path, [("target", data)])
    deploy = _deploy(tmp_path, "echo via-jump >> /tmp/jumped")
    if through == "ProxyJump":
        oracle, ours = _both(inventory, deploy)
        _reached(oracle, ours, "target")
        runs = 2  # pyinfra's, then ours
    else:
        # Real pyinfra 3.10 hangs here: its transport thread blocks for good in paramiko's
        # ProxyCommand.recv (seen with faulthandler), so only ours runs.
        ours = run_deploy(inventory, [deploy], RunOptions(project_root=deploy.parent))
        assert ours.host("target").status == "changed", ours.host("target").error
        runs = 1
    assert target.read_text("/tmp/jumped").split() == ["via-jump"] * runs
    assert _accepted_from(target) == [jump.address] * runs
    assert _accepted_from(jump) == [target.bed.gateway] * runs


def _sshd_back_after(host: Host, seconds: float) -> threading.Thread:
    def later() -> None:
        time.sleep(seconds)
        host.start_sshd()

    thread = threading.Thread(target=later, daemon=True)
    thread.start()
    return thread


def test_connect_retries_wait_for_sshd(bed_hosts, tmp_path):
    (host,) = bed_hosts(1)
    data = {**host.ssh_data, "ssh_connect_retries": 40, "ssh_connect_retry_min_delay": 0.1,
            "ssh_connect_retry_max_delay": 0.2}
    inventory = _inventory(tmp_path, [("h", data)])
    deploy = _deploy(tmp_path, "echo after-retries >> /tmp/retried")

    # pyinfra first: sshd is down when it starts, and back a second later
    host.stop_sshd()
    thread = _sshd_back_after(host, 1.0)
    proc = run_oracle_file(REAL_PYINFRA, [str(inventory), str(deploy)], cwd=tmp_path,
                           timeout=120, check=False)
    thread.join()
    assert proc.returncode == 0, proc.stderr
    assert '"reach", true, true' in proc.stdout

    host.stop_sshd()
    (tmp_path / "no-retries").mkdir()
    plain = _inventory(tmp_path / "no-retries", [("h", host.ssh_data)])
    without = run_deploy(plain, [deploy], RunOptions(project_root=tmp_path))
    assert without.host("h").status == "unreachable"  # no retries: refused at once

    thread = _sshd_back_after(host, 1.0)
    started = time.monotonic()
    ours = run_deploy(inventory, [deploy], RunOptions(project_root=tmp_path))
    thread.join()
    assert ours.host("h").status == "changed", ours.host("h").error
    assert time.monotonic() - started >= 1.0
    assert host.read_text("/tmp/retried").split() == ["after-retries", "after-retries"]


@pytest.fixture
def ssh_agent(tmp_path, monkeypatch) -> Iterator[tuple[str, str]]:
    """An ssh-agent of this test's own, holding a fresh key: (socket, key fingerprint)."""
    if not (shutil.which("ssh-agent") and shutil.which("ssh-add")):
        pytest.skip("ssh-agent/ssh-add not installed")
    directory = tempfile.mkdtemp(prefix="pi-agent-", dir="/tmp")  # a short socket path
    sock = os.path.join(directory, "agent.sock")
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", sock], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(sock):
            assert time.monotonic() < deadline, "ssh-agent did not start"
            time.sleep(0.02)
        key = tmp_path / "agent_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "forwarded-key",
                        "-f", str(key)], check=True)
        env = {**os.environ, "SSH_AUTH_SOCK": sock}
        subprocess.run(["ssh-add", "-q", str(key)], check=True, env=env)
        fingerprint = subprocess.run(["ssh-keygen", "-lf", f"{key}.pub"], check=True,
                                     capture_output=True, text=True).stdout.split()[1]
        monkeypatch.setenv("SSH_AUTH_SOCK", sock)
        yield sock, fingerprint
    finally:
        agent.terminate()
        agent.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)


def test_agent_forwarding_shows_the_local_agent_on_the_host(bed_hosts, ssh_agent, tmp_path):
    forwarded, plain = bed_hosts(2)
    _, fingerprint = ssh_agent
    inventory = _inventory(tmp_path, [
        ("forwarded", {**forwarded.ssh_data, "ssh_forward_agent": True}),
        ("plain", plain.ssh_data),
    ])
    deploy = _deploy(tmp_path, "ssh-add -l >> /tmp/agent-keys 2>&1 || true")
    oracle, ours = _both(inventory, deploy)
    _reached(oracle, ours, "forwarded")
    _reached(oracle, ours, "plain")
    seen = (forwarded.read_text("/tmp/agent-keys") or "").splitlines()
    assert len(seen) == 2 and all(fingerprint in line for line in seen), seen
    unseen = plain.read_text("/tmp/agent-keys") or ""
    assert fingerprint not in unseen and "Could not open a connection" in unseen
