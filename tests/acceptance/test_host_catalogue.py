"""Acceptance of the host-level catalogue: one pyinfra deploy of 22 distinct operations from
server, systemd, sysvinit, crontab and python, on five bed hosts, two of them running systemd.

The first run changes every host; the second reports no change for every operation (the
operations that always change in pyinfra, such as server.script, run under
`_if=<group op>.did_change`, so the second run skips them); and `plan` against a host changed
by hand lists exactly the drift, on that host only.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.vocab import OpStatus
from tests.acceptance.conftest import pullinfra
from tests.testbed import Host

pytestmark = pytest.mark.bed

DEPLOY = '''\
from pyinfra import host
from pyinfra.operations import crontab, files, python, server, systemd, sysvinit

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHB1bGxpbmZyYS1hY2NlcHRhbmNlLWtleS0wMQ app@ops"


def note_group():
    """A callback at execute time: it reads the host it runs for, and changes nothing."""
    assert host.name


grp = server.group(name="group", group="app")
server.user(name="user", user="app", group="app", shell="/bin/bash", home="/home/app",
            ensure_home=True)
server.user_authorized_keys(name="keys", user="app", public_keys=[KEY])
server.sysctl(name="sysctl", key="net.ipv4.ip_forward", value=1, persist=True)
server.crontab(name="cron backup", command="/usr/local/bin/backup", user="app", hour=3,
               minute=0)
crontab.crontab(name="cron heartbeat", command="/bin/true", minute="*/5")
server.hostname(name="hostname", hostname=f"{host.name}.example")
server.timezone(name="timezone", timezone="Europe/Berlin")
server.locale(name="locale", locale="fr_FR.UTF-8")
server.security_limit(name="limit", domain="app", limit_type="soft", item="nofile",
                      value=4096)
server.etc_hosts(name="etc hosts", ip="198.18.255.10", hostnames=["db.internal"])
files.directory(name="scratch dir", path="/mnt/scratch")
server.mount(name="mount", path="/mnt/scratch", device="tmpfs", fs_type="tmpfs",
             options=["nosuid"])
server.packages(name="packages", packages=["pullinfra-dummy"])
server.script(name="script", src="files/setup.sh", _if=grp.did_change)
server.script_template(name="script template", src="templates/report.sh.j2",
                       greeting="hello", _if=grp.did_change)
python.call(name="python call", function=note_group, _if=grp.did_change)
server.wait(name="wait", port=22, _if=grp.did_change)

if "systemd_hosts" in host.groups:
    unit = files.put(name="unit file", src="files/pullinfra-sleep.service",
                     dest="/etc/systemd/system/pullinfra-sleep.service")
    systemd.daemon_reload(name="daemon reload", _if=unit.did_change)
    systemd.service(name="systemd service", service="pullinfra-sleep.service",
                    running=True, enabled=True)
else:
    server.packages(name="svc package", packages=["pullinfra-svc"])
    sysvinit.service(name="sysvinit service", service="pullinfra-svc", running=True)
    sysvinit.enable(name="sysvinit enable", service="pullinfra-svc")
server.service(name="server service", service="cron", running=True)
'''

FILES = {
    "files/setup.sh": "#!/bin/sh\nset -e\nmkdir -p /var/lib/app\necho done > "
                      "/var/lib/app/setup-done\n",
    "templates/report.sh.j2": "#!/bin/sh\necho '{{ greeting }} from {{ host.name }}' > "
                              "/var/lib/app/report\n",
    "files/pullinfra-sleep.service": "[Unit]\nDescription=pullinfra acceptance sleeper\n\n"
                                     "[Service]\nExecStart=/bin/sleep infinity\n\n"
                                     "[Install]\nWantedBy=multi-user.target\n",
}

DISTINCT_OPERATIONS = {
    "server.group", "server.user", "server.user_authorized_keys", "server.sysctl",
    "server.crontab", "crontab.crontab", "server.hostname", "server.timezone",
    "server.locale", "server.security_limit", "server.etc_hosts", "server.mount",
    "server.packages", "server.script", "server.script_template", "python.call",
    "server.wait", "systemd.daemon_reload", "systemd.service", "server.service",
    "sysvinit.service", "sysvinit.enable",
}
GATED = {"script", "script template", "python call", "wait", "daemon reload"}


@pytest.fixture
def fleet(bed_hosts, systemd_hosts, bed_inventory,
          write: Callable[[str, str], Path]) -> tuple[dict[str, Host], Path, Path]:
    plain = dict(zip(["web-01", "web-02", "web-03"], bed_hosts(3), strict=True))
    booted = dict(zip(["sd-01", "sd-02"], systemd_hosts(2), strict=True))
    hosts = plain | booted
    inventory = bed_inventory(hosts, groups={"sysv_hosts": list(plain),
                                             "systemd_hosts": list(booted)})
    for name, text in FILES.items():
        write(name, text)
    return hosts, inventory, write("deploy.py", DEPLOY)


def _report(proc) -> dict:
    assert proc.returncode in (0, 3), proc.stderr[-4000:]
    return json.loads(proc.stdout)


def _statuses(report: dict) -> dict[tuple[str, str], str]:
    return {(h["name"], op["name"]): op["status"]
            for h in report["hosts"] for op in h["operations"]}


def _assert_converged(hosts: dict[str, Host]) -> None:
    for name, host in hosts.items():
        passwd = host.read_text("/etc/passwd") or ""
        assert "app:x:" in passwd and ":/home/app:/bin/bash" in passwd, name
        assert host.stat("/home/app").st_uid == host.stat("/home/app/.ssh").st_uid != 0
        assert "app@ops" in (host.read_text("/home/app/.ssh/authorized_keys") or "")
        assert host.run("sysctl -n net.ipv4.ip_forward").stdout.strip() == "1", name
        assert "/usr/local/bin/backup" in host.run("crontab -l -u app").stdout, name
        assert "/bin/true" in host.run("crontab -l").stdout, name
        assert host.run("hostname").stdout.strip() == f"{name}.example"
        assert "Europe/Berlin" in host.run("readlink /etc/localtime").stdout, name
        assert "fr_FR.utf8" in host.run("locale -a").stdout, name
        assert "app soft nofile 4096" in " ".join(
            (host.read_text("/etc/security/limits.conf") or "").split()), name
        assert "db.internal" in (host.read_text("/etc/hosts") or ""), name
        assert " /mnt/scratch tmpfs " in " ".join(
            host.run("cat /proc/mounts").stdout.split("\n")), name
        assert host.package_version("pullinfra-dummy") is not None, name
        assert host.read_text("/var/lib/app/setup-done") == "done\n", name
        assert host.read_text("/var/lib/app/report") == f"hello from {name}\n", name
        assert host.run("pidof cron").returncode == 0, name


def test_the_deploy_changes_then_settles_and_plan_shows_only_the_drift(fleet) -> None:
    hosts, inventory, deploy = fleet

    first = _report(pullinfra("apply", inventory, deploy, "--json", timeout=600))
    assert first["summary"]["hosts"]["failed"] == 0, [h.get("error") for h in first["hosts"]]
    first_statuses = _statuses(first)
    assert set(first_statuses.values()) == {OpStatus.CHANGED}, {
        k: v for k, v in first_statuses.items() if v != OpStatus.CHANGED}
    assert len({op for (_, op) in first_statuses}) >= 20
    _assert_converged(hosts)
    for name in ("sd-01", "sd-02"):
        machine = hosts[name]
        assert machine.run("systemctl is-active pullinfra-sleep").stdout.strip() == "active"
        assert machine.run("systemctl is-enabled pullinfra-sleep").stdout.strip() == "enabled"
    for name in ("web-01", "web-02", "web-03"):
        assert hosts[name].run("/etc/init.d/pullinfra-svc status").returncode == 0, name

    second = _report(pullinfra("apply", inventory, deploy, "--json", timeout=600))
    second_statuses = _statuses(second)
    assert {op for (_, op), status in second_statuses.items()
            if status == OpStatus.SKIPPED} == GATED
    assert {status for (_, op), status in second_statuses.items()
            if op not in GATED} == {OpStatus.NO_CHANGE}, second_statuses

    web, sd = hosts["web-02"], hosts["sd-01"]
    web.run("usermod -s /bin/sh app && crontab -r -u app", check=True)
    sd.run("sysctl -w net.ipv4.ip_forward=0 && systemctl stop pullinfra-sleep", check=True)
    planned = _report(pullinfra("plan", inventory, deploy, "--json", "--detailed-exitcode",
                                timeout=600))
    drift = {key for key, status in _statuses(planned).items() if status == OpStatus.CHANGED}
    assert drift == {("web-02", "user"), ("web-02", "cron backup"), ("sd-01", "sysctl"),
                     ("sd-01", "systemd service")}, drift
    assert web.run("getent passwd app").stdout.strip().endswith(":/bin/sh")
    assert sd.run("systemctl is-active pullinfra-sleep").stdout.strip() != "active"


def test_the_deploy_uses_twenty_distinct_operations() -> None:
    called = {f"{module}.{name}" for module, name in _calls(DEPLOY)}
    assert called == DISTINCT_OPERATIONS
    assert len(called) >= 20


def _calls(code: str) -> set[tuple[str, str]]:
    modules = {"crontab", "python", "server", "systemd", "sysvinit"}
    found = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if isinstance(owner, ast.Name) and owner.id in modules:
                found.add((owner.id, node.func.attr))
    return found
