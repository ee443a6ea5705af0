"""Smoke scenarios that drive an installed `pullinfra` (any venv's bin/) against bed hosts.

Each scenario touches what a dependency upgrade could break: SSH (paramiko: keys, encrypted
keys, passwords), git (gitpython: a remote over SSH and over file://), and HTTP
(prometheus-client's /metrics, the webhook notifier, the API). A scenario is a plain
function, so the upstream checks can run the same ones again against other venvs; it raises
AssertionError with the output that shows what broke.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.acceptance_agent.harness import (
    REPORT_SECRET,
    WEBHOOK_SECRET,
    Agent,
    agent_config,
    clean_env,
    signature_ok,
)
from tests.agent.gitfixtures import Remote, remote_on_bed_host
from tests.agent.receivers import Receiver, free_port
from tests.polling import wait_for
from tests.testbed import Host

MARK = "/srv/smoke/mark.txt"
DEPLOY = f"""\
from pyinfra.operations import files, server

files.directory(name="smoke dir", path="/srv/smoke")
files.put(name="smoke mark", src="mark.txt", dest="{MARK}")
server.shell(name="who", commands=["id -un > /srv/smoke/who.txt"])
"""
KEY_PASSPHRASE = "smoke-k3y-passphrase"
DEPLOY_PASSWORD = "smoke-Pw-for-deploy"


@dataclass
class Smoke:
    """What one scenario run gets: the pullinfra under test, fresh hosts, a scratch folder."""

    pullinfra: Path
    hosts: Sequence[Host]
    work: Path

    def __post_init__(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)

    def write(self, name: str, text: str) -> Path:
        path = self.work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def apply(self, hosts: dict[str, dict], *extra: str) -> subprocess.CompletedProcess[str]:
        """`pullinfra apply --json` of DEPLOY on an inventory of {name: ssh data}."""
        lines = ["hosts = ["] + [f"    ({n!r}, {d!r})," for n, d in hosts.items()] + ["]"]
        inventory = self.write("inventory.py", "\n".join(lines) + "\n")
        self.write("mark.txt", "installed pullinfra was here\n")
        deploy = self.write("deploy.py", DEPLOY)
        return subprocess.run([str(self.pullinfra), "apply", str(inventory), str(deploy),
                               "--json", *extra], cwd=self.work, env=clean_env(),
                              capture_output=True, text=True, timeout=120)


def _report(proc: subprocess.CompletedProcess[str]) -> dict:
    assert proc.stdout.strip(), f"no report on stdout (exit {proc.returncode}):\n{proc.stderr}"
    return json.loads(proc.stdout)


def _applied(smoke: Smoke, proc: subprocess.CompletedProcess[str], host: Host,
             user: str) -> None:
    assert proc.returncode == 0, f"apply exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    assert _report(proc)["status"] == "changed", proc.stderr[-3000:]
    assert host.read_text(MARK) == "installed pullinfra was here\n"
    assert host.read_text("/srv/smoke/who.txt") == f"{user}\n"


def apply_with_key(smoke: Smoke) -> None:
    """A plain ed25519 key; the second run finds the files as they should be."""
    host = smoke.hosts[0]
    _applied(smoke, smoke.apply({"h": host.ssh_data}), host, "root")
    again = smoke.apply({"h": host.ssh_data})
    assert again.returncode == 0, again.stderr[-3000:]
    (entry,) = _report(again)["hosts"]
    statuses = {op["name"]: op["status"] for op in entry["operations"]}
    assert statuses == {"smoke dir": "no_change", "smoke mark": "no_change",
                        "who": "changed"}, statuses


def apply_with_encrypted_key(smoke: Smoke) -> None:
    """A passphrase-protected key: refused honestly without ssh_key_password, used with it."""
    host = smoke.hosts[0]
    key = smoke.work / "id_locked"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", KEY_PASSPHRASE, "-f", str(key)],
                   check=True, capture_output=True)
    host.authorize_key(key.with_suffix(".pub"))
    data = {**host.ssh_data, "ssh_key": str(key)}
    locked = smoke.apply({"h": data})
    assert locked.returncode == 1, locked.stderr[-3000:]
    assert "encrypted: set ssh_key_password" in locked.stderr, locked.stderr[-3000:]
    unlocked = smoke.apply({"h": {**data, "ssh_key_password": KEY_PASSPHRASE}})
    _applied(smoke, unlocked, host, "root")
    assert KEY_PASSPHRASE not in unlocked.stdout + unlocked.stderr


def apply_with_password(smoke: Smoke) -> None:
    """Password login (no key at all), as the sudo-capable `deploy` user."""
    host = smoke.hosts[0]
    host.allow_password_login("deploy", DEPLOY_PASSWORD)
    data = {k: v for k, v in host.ssh_data.items() if k != "ssh_key"}
    data.update(ssh_user="deploy", ssh_password=DEPLOY_PASSWORD, _sudo=True)
    proc = smoke.apply({"h": data})
    _applied(smoke, proc, host, "root")
    assert DEPLOY_PASSWORD not in proc.stdout + proc.stderr


def agent_once_from_ssh_remote(smoke: Smoke) -> None:
    """`agent --once`: clone over SSH from a bed host, apply, post a signed report."""
    git_host, target = smoke.hosts[0], smoke.hosts[1]
    bed = git_host.bed
    remote, url = remote_on_bed_host(smoke.work / "git", git_host)
    commit = remote.commit_and_push(
        {"inventory.py": bed.inventory([target]), "deploy.py": DEPLOY,
         "mark.txt": "installed pullinfra was here\n"}, "smoke")
    receiver = Receiver().start()
    try:
        agent = _agent(smoke, url, receiver, source={"ssh_key": str(bed.client_key),
                                                     "known_hosts": str(bed.known_hosts)})
        proc = subprocess.run([str(smoke.pullinfra), "agent", "--config",
                               str(agent.config_path), "--once"], cwd=agent.workdir,
                              env=clean_env(), capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"agent --once exited {proc.returncode}:\n" \
                                     f"{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
        assert target.read_text(MARK) == "installed pullinfra was here\n"
        (report,) = [r for r in receiver.received() if r.path == "/reports"]
        assert signature_ok(report, REPORT_SECRET), report.headers
        body = report.json()
        assert (body["status"], body["source"]["revision"]) == ("changed", commit), body
    finally:
        receiver.stop()


def agent_serves_http(smoke: Smoke) -> None:
    """The daemon over file://: /readyz, /metrics, the runs API and a signed push webhook."""
    target = smoke.hosts[0]
    remote = Remote(smoke.work / "git")
    first = remote.commit_and_push(
        {"inventory.py": target.bed.inventory([target]), "deploy.py": DEPLOY,
         "mark.txt": "installed pullinfra was here\n"}, "smoke 1")
    receiver = Receiver().start()
    agent = _agent(smoke, remote.url, receiver, poll_interval="1h")
    try:
        agent.start()
        agent.wait_ready()
        assert agent.wait_finished(first)["status"] == "changed", agent.describe()
        second = remote.commit_and_push({"mark.txt": "and again\n"}, "smoke 2")
        body = json.dumps({"ref": "refs/heads/main", "before": first, "after": second}).encode()
        signature = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        status, _, _ = agent.post("/hooks/github", body, {
            "Content-Type": "application/json", "X-GitHub-Event": "push",
            "X-GitHub-Delivery": "smoke-1", "X-Hub-Signature-256": f"sha256={signature}"})
        assert 200 <= status < 300, status
        assert agent.wait_finished(second)["status"] == "changed", agent.describe()
        scrape = agent.scrape()
        assert scrape.value("pullinfra_applied_revision_info", deployment="app",
                            revision=second) == 1, agent.describe()
        assert scrape.sum("pullinfra_run_total", deployment="app", result="changed") >= 2
        wait_for(lambda: len(receiver.received()) >= 2, 30, "two reports delivered")
        assert agent.terminate() == 0, agent.log_tail()
    finally:
        agent.cleanup()
        receiver.stop()
    assert target.read_text(MARK) == "and again\n"


def _agent(smoke: Smoke, url: str, receiver: Receiver, **options) -> Agent:
    workdir = smoke.work / "agent"
    workdir.mkdir()
    config = agent_config(url=url, port=free_port(), state_dir=workdir / "state",
                          notify_url=f"{receiver.url}/reports", **options)
    return Agent(workdir, config, pullinfra=smoke.pullinfra)


# name -> (scenario, hosts it needs)
SCENARIOS: dict[str, tuple[Callable[[Smoke], None], int]] = {
    "apply with a key": (apply_with_key, 1),
    "apply with an encrypted key": (apply_with_encrypted_key, 1),
    "apply with a password": (apply_with_password, 1),
    "agent --once from an SSH remote": (agent_once_from_ssh_remote, 2),
    "agent serving HTTP": (agent_serves_http, 1),
}
