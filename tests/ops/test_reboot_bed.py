"""server.reboot on bed hosts, and the Host's disconnect/reconnect it is built on, over SSH.

A plain bed host has no reboot, but its sshd can be stopped and started: enough to see that
an operation's `host.disconnect()` / `host.reconnect()` drop the engine's real SSH
connection, that reconnecting fails while nothing listens and works once sshd is back, and
that the operations after it run over the new connection. The reboot itself needs a host
with systemd (the `systemd_hosts` fixture), whose reboot(2) boots it again.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from agent.compat import run_deploy
from agent.engine.run import RunOptions
from agent.vocab import OpStatus

# What a deploy's python.call callback reaches of the test (deploy code runs in this
# process): the bed host whose sshd it stops and starts, and what reconnect answered.
CONTROL: dict[str, Any] = {}

RECONNECT_DEPLOY = """
from pyinfra import host
from pyinfra.operations import files, python, server
from tests.ops.test_reboot_bed import CONTROL


def bounce():
    bed_host = CONTROL["bed_host"]
    host.disconnect()
    bed_host.stop_sshd()
    CONTROL["while_sshd_is_down"] = host.reconnect()
    bed_host.start_sshd()
    CONTROL["once_sshd_is_back"] = host.reconnect()


server.shell(name="before", commands=["echo $PPID > /root/before"])
server.shell(name="before again", commands=["echo $PPID > /root/before-again"])
files.put(name="upload before", src="motd", dest="/root/motd-before")
python.call(name="bounce the connection", function=bounce)
server.shell(name="after", commands=["echo $PPID > /root/after"])
files.put(name="upload after", src="motd", dest="/root/motd")
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def test_reconnect_over_ssh_and_later_ops_use_the_new_connection(
    bed_host, bed_inventory, tmp_path: Path
) -> None:
    CONTROL.clear()
    CONTROL["bed_host"] = bed_host
    inventory = bed_inventory({"h1": bed_host})
    deploy = _write(tmp_path / "deploy.py", RECONNECT_DEPLOY)
    (tmp_path / "motd").write_text("uploaded over the new connection\n")
    result = run_deploy(inventory, [deploy], RunOptions(project_root=tmp_path))
    ops = result.host("h1").operations
    assert [(op.name, op.status != OpStatus.FAILED) for op in ops] == [
        ("before", True), ("before again", True), ("upload before", True),
        ("bounce the connection", True),
        ("after", True), ("upload after", True)], ops
    assert CONTROL["while_sshd_is_down"] is False
    assert CONTROL["once_sshd_is_back"] is True
    # A command's shell is a child of its connection's sshd process: the same one for the
    # commands before the bounce, another after it.
    before, again, after = (bed_host.read_text(f"/root/{name}")
                            for name in ("before", "before-again", "after"))
    assert before and after and before == again != after
    assert bed_host.read_text("/root/motd") == "uploaded over the new connection\n"


REBOOT_DEPLOY = """
from pyinfra.operations import files, server

files.file(name="marker in /run", path="/run/pullinfra-marker", touch=True)
files.file(name="marker in /etc", path="/etc/pullinfra-marker", touch=True)
server.reboot(name="reboot", delay=2, interval=1, reboot_timeout=120)
server.shell(name="after the reboot",
             commands=["test ! -e /run/pullinfra-marker && touch /etc/ran-on-a-fresh-run"])
files.file(name="file after the reboot", path="/etc/after-reboot", touch=True)
"""


def test_reboot_on_a_systemd_host_and_the_run_goes_on(
    systemd_host, bed_inventory, tmp_path: Path
) -> None:
    assert systemd_host.boot == 1
    inventory = bed_inventory({"h1": systemd_host})
    deploy = _write(tmp_path / "deploy.py", REBOOT_DEPLOY)
    result = run_deploy(inventory, [deploy], RunOptions(project_root=tmp_path))
    host = result.host("h1")
    assert host.error is None, host.error
    assert [(op.name, op.status) for op in host.operations] == [
        ("marker in /run", OpStatus.CHANGED),
        ("marker in /etc", OpStatus.CHANGED),
        ("reboot", OpStatus.CHANGED),
        ("after the reboot", OpStatus.CHANGED),
        ("file after the reboot", OpStatus.CHANGED),
    ], [(op.name, op.status, op.error) for op in host.operations]
    assert systemd_host.boot == 2  # booted once more, and the run waited for it
    assert not systemd_host.exists("/run/pullinfra-marker")  # /run is new after a boot
    assert systemd_host.exists("/etc/pullinfra-marker")  # the disk is kept
    assert systemd_host.exists("/etc/ran-on-a-fresh-run")
    assert systemd_host.exists("/etc/after-reboot")


SUDO_REBOOT_DEPLOY = """
from pyinfra.operations import files, server

files.file(name="marker in /run", path="/run/pullinfra-marker", touch=True, _sudo=True)
server.reboot(name="reboot", delay=1, interval=0.5, reboot_timeout=60, _sudo=True)
server.shell(name="after the reboot", _sudo=True,
             commands=["test ! -e /run/pullinfra-marker && id -un > /etc/rebooted-by"])
server.shell(name="as the login user", commands=["id -un > ~/logged-in-after-reboot"])
"""


def test_two_hosts_reboot_at_once_through_sudo_as_a_login_user(
    systemd_hosts, tmp_path: Path
) -> None:
    """The login user (`deploy`, passwordless sudo) reconnects as itself after the boot."""
    hosts = systemd_hosts(2)
    entries = "".join(
        f"    ({f'h{i}'!r}, {({**h.ssh_data, 'ssh_user': 'deploy'})!r}),\n"
        for i, h in enumerate(hosts, 1))
    inventory = _write(tmp_path / "inventory.py", f"hosts = [\n{entries}]\n")
    deploy = _write(tmp_path / "deploy.py", SUDO_REBOOT_DEPLOY)
    result = run_deploy(inventory, [deploy], RunOptions(project_root=tmp_path))
    for name, bed_host in zip(("h1", "h2"), hosts, strict=True):
        ops = result.host(name).operations
        assert [(op.name, op.status) for op in ops] == [
            ("marker in /run", OpStatus.CHANGED), ("reboot", OpStatus.CHANGED),
            ("after the reboot", OpStatus.CHANGED), ("as the login user", OpStatus.CHANGED),
        ], [(op.name, op.error) for op in ops]
        assert bed_host.boot == 2
        assert bed_host.read_text("/etc/rebooted-by") == "root\n"
        assert bed_host.read_text("/home/deploy/logged-in-after-reboot") == "deploy\n"


def test_a_host_that_does_not_reboot_fails_after_the_timeout(
    bed_host, bed_inventory, tmp_path: Path
) -> None:
    """A plain bed host has no systemd, so its `reboot` does nothing: the host is up all
    along, and still not taken for rebooted."""
    inventory = bed_inventory({"h1": bed_host})
    deploy = _write(tmp_path / "deploy.py", """
        from pyinfra.operations import server
        server.reboot(name="reboot", delay=0, interval=0.5, reboot_timeout=3)
        server.shell(name="never", commands=["touch /root/never"])
    """)
    result = run_deploy(inventory, [deploy], RunOptions(project_root=tmp_path))
    host = result.host("h1")
    reboot = host.operations[0]
    assert reboot.status == OpStatus.FAILED
    assert "Server did not reboot in time (reboot_timeout=3s)" in (reboot.error or "")
    assert reboot.duration_seconds is not None and reboot.duration_seconds >= 3
    assert not bed_host.exists("/root/never")
