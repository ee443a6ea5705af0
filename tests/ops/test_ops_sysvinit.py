"""sysvinit.service, sysvinit.enable, their facts, and server.service's choice of init system:
facts in, commands out."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from agent.catalogue.facts.files import Directory, Link
from agent.catalogue.facts.server import LinuxDistribution, Os, Which
from agent.catalogue.facts.systemd import SystemdRunning
from agent.catalogue.facts.sysvinit import InitdLinks, InitdStatus
from agent.catalogue.operations import server, sysvinit
from agent.compat import run_deploy
from agent.engine.operation_errors import OperationError, OperationValueError
from agent.vocab import OpStatus
from tests.ops.conftest import FakeHost, local_deploy, run_op


def _host(fake: FakeHost, running: bool | None = None, links: list[str] | None = None,
          distro: str | None = "Debian") -> FakeHost:
    fake.fact(InitdStatus, {} if running is None else {"svc": running, "other": not running})
    fake.fact(InitdLinks, links or [], service="svc")
    fake.fact(LinuxDistribution, {"name": distro})
    return fake


# ---- sysvinit.service: running, restarted, reloaded, command


def test_starts_a_stopped_service_and_leaves_a_running_one(fake: FakeHost) -> None:
    _host(fake, running=False)
    assert run_op(fake, sysvinit.service, "svc") == ["/etc/init.d/svc start"]
    _host(fake, running=True)
    assert run_op(fake, sysvinit.service, "svc") == []
    assert fake.noops == ["service svc is running"]


def test_an_unknown_status_counts_as_stopped(fake: FakeHost) -> None:
    _host(fake, running=None)
    assert run_op(fake, sysvinit.service, "svc") == ["/etc/init.d/svc start"]
    fake.fact(InitdStatus, {"svc": None})
    assert run_op(fake, sysvinit.service, "svc", running=False) == []
    assert fake.noops == ["service svc is stopped"]


def test_stops_a_running_service(fake: FakeHost) -> None:
    _host(fake, running=True)
    assert run_op(fake, sysvinit.service, "svc", running=False) == ["/etc/init.d/svc stop"]


def test_restart_and_reload_only_a_running_service_command_always(fake: FakeHost) -> None:
    _host(fake, running=True)
    assert run_op(fake, sysvinit.service, "svc", restarted=True, reloaded=True) == [
        "/etc/init.d/svc restart",
        "/etc/init.d/svc reload",
    ]
    _host(fake, running=False)
    assert run_op(fake, sysvinit.service, "svc", running=None, restarted=True) == []
    assert run_op(fake, sysvinit.service, "svc", running=None, command="force-reload") == [
        "/etc/init.d/svc force-reload"
    ]


def test_reads_every_script_status_once_and_no_links_without_enabled(fake: FakeHost) -> None:
    _host(fake, running=True)
    run_op(fake, sysvinit.service, "svc")
    assert [name for name, _ in fake.fact_reads] == ["sysvinit.InitdStatus"]


# ---- sysvinit.service: enabled


def test_enable_on_debian_runs_update_rc_d_defaults(fake: FakeHost) -> None:
    _host(fake, running=True)
    assert run_op(fake, sysvinit.service, "svc", enabled=True) == ["update-rc.d svc defaults"]


def test_enable_with_only_kill_links_removes_them_first(fake: FakeHost) -> None:
    # What disabling leaves: `defaults` alone would keep these and add no start link.
    _host(fake, running=True, links=["/etc/rc0.d/K01svc", "/etc/rc6.d/K01svc"])
    assert run_op(fake, sysvinit.service, "svc", enabled=True) == [
        "update-rc.d -f svc remove",
        "update-rc.d svc defaults",
    ]


def test_enabled_service_is_no_change(fake: FakeHost) -> None:
    _host(fake, running=True, links=["/etc/rc0.d/K01svc", "/etc/rc2.d/S01svc"])
    assert run_op(fake, sysvinit.service, "svc", enabled=True) == []
    assert fake.noops == ["service svc is running", "service svc is enabled"]


@pytest.mark.parametrize(("distro", "commands"), [
    ("Ubuntu", ["update-rc.d svc defaults"]),
    ("CentOS", ["chkconfig svc --add", "chkconfig svc on"]),
    ("RedHat", ["chkconfig svc --add", "chkconfig svc on"]),
    ("Fedora", ["chkconfig svc --add", "chkconfig svc on"]),
    ("Gentoo", ["rc-update add svc default"]),
])
def test_enable_uses_the_distribution_tool(fake: FakeHost, distro: str, commands: list) -> None:
    _host(fake, running=True, distro=distro)
    assert run_op(fake, sysvinit.service, "svc", enabled=True) == commands


def test_enable_elsewhere_is_no_change_pointing_to_sysvinit_enable(fake: FakeHost) -> None:
    _host(fake, running=True, distro="Slackware")
    assert run_op(fake, sysvinit.service, "svc", enabled=True) == []
    assert "sysvinit.enable" in fake.noops[-1] and "Slackware" in fake.noops[-1]


def test_disable_removes_each_start_link(fake: FakeHost) -> None:
    links = ["/etc/rc0.d/K01svc", "/etc/rc2.d/S01svc", "/etc/rc3.d/S01svc"]
    _host(fake, running=True, links=links)
    assert run_op(fake, sysvinit.service, "svc", running=None, enabled=False) == [
        "rm -f /etc/rc2.d/S01svc",
        "rm -f /etc/rc3.d/S01svc",
    ]
    _host(fake, running=True, links=["/etc/rc0.d/K01svc"])
    assert run_op(fake, sysvinit.service, "svc", running=None, enabled=False) == []
    assert fake.noops == ["service svc is disabled"]


@pytest.mark.parametrize("name", ["svc; reboot", "../svc", "", None, "a b"])
def test_service_name_is_checked(fake: FakeHost, name: Any) -> None:
    with pytest.raises(OperationValueError, match=r"sysvinit\.service needs the name"):
        run_op(fake, sysvinit.service, name)


# ---- sysvinit.enable


def _no_links(fake: FakeHost, links: list[str]) -> None:
    for link in links:
        fake.fact(Link, None, path=link)
        fake.fact(Directory, {"mode": 755}, path=link.rsplit("/", 1)[0])


def test_enable_makes_the_default_links(fake: FakeHost) -> None:
    links = [f"/etc/rc{n}.d/S20svc" for n in (2, 3, 4, 5)]
    links += [f"/etc/rc{n}.d/K80svc" for n in (0, 1, 6)]
    _no_links(fake, links)
    assert run_op(fake, sysvinit.enable, "svc") == [f"ln -s /etc/init.d/svc {link}"
                                                   for link in links]


def test_enable_with_levels_and_priorities(fake: FakeHost) -> None:
    links = ["/etc/rc3.d/S05svc", "/etc/rc5.d/S05svc", "/etc/rc0.d/K95svc"]
    _no_links(fake, links)
    fake.fact(Link, {"link_target": "/etc/init.d/svc"}, path="/etc/rc3.d/S05svc")
    fake.fact(Link, {"link_target": "../init.d/svc"}, path="/etc/rc5.d/S05svc")
    assert run_op(fake, sysvinit.enable, "svc", start_priority="05", stop_priority=95,
                  start_levels=[3, "5"], stop_levels=(0,)) == [
        "rm -f /etc/rc5.d/S05svc",
        "ln -s /etc/init.d/svc /etc/rc5.d/S05svc",
        "ln -s /etc/init.d/svc /etc/rc0.d/K95svc",
    ]


@pytest.mark.parametrize(("arguments", "message"), [
    ({"start_priority": "high"}, "start_priority must be a number"),
    ({"stop_priority": None}, "stop_priority must be a number"),
    ({"start_levels": (2, 7)}, "start_levels must list runlevels"),
    ({"stop_levels": None}, "stop_levels must list runlevels"),
    ({"start_levels": [True]}, "start_levels must list runlevels"),
])
def test_enable_arguments_are_checked(fake: FakeHost, arguments: dict, message: str) -> None:
    with pytest.raises(OperationValueError, match=message):
        run_op(fake, sysvinit.enable, "svc", **arguments)


def test_argument_error_names_the_deploy_line(tmp_path: Path) -> None:
    inventory, deploys = local_deploy(tmp_path, "from pyinfra.operations import sysvinit\n\n"
        "sysvinit.enable(name='bad', service='svc', start_levels=(2, 9))\n")
    result = run_deploy(inventory, deploys)
    [op] = result.host("@local").operations
    assert op.status == OpStatus.FAILED
    assert f"{deploys[0]}:3" in (op.error or "")
    assert "start_levels must list runlevels" in (op.error or "")


# ---- server.service: which init system


def _tools(fake: FakeHost, *present: str, os_name: str = "Linux") -> FakeHost:
    for tool in ("systemctl", "rc-service", "initctl", "sv", "service"):
        fake.fact(Which, f"/usr/bin/{tool}" if tool in present else None, command=tool)
    fake.fact(SystemdRunning, "systemd" in present).fact(Os, os_name)
    fake.fact(Link, None, path="/etc/init.d").fact(Directory, None, path="/etc/init.d")
    fake.fact(Directory, None, path="/etc/rc.d")
    return fake


@pytest.mark.parametrize(("present", "init"), [
    (("rc-service", "service"), "OpenRC"),
    (("initctl", "service"), "Upstart"),
    (("sv", "service"), "runit"),
    (("systemctl", "sv"), "runit"),
])
def test_unsupported_init_systems_are_named(fake: FakeHost, present: tuple, init: str) -> None:
    _tools(fake, *present)
    with pytest.raises(OperationError, match=f"init system is {init}, which pullinfra cannot"):
        run_op(fake, server.service, "svc")


def test_bsd_rc_d_is_named(fake: FakeHost) -> None:
    _tools(fake, "service", os_name="FreeBSD").fact(Directory, {"mode": 755}, path="/etc/rc.d")
    with pytest.raises(OperationError, match=r"init system is BSD rc\.d"):
        run_op(fake, server.service, "svc")


def test_rc_d_on_linux_is_not_bsd(fake: FakeHost) -> None:
    _host(_tools(fake, "service").fact(Directory, {"mode": 755}, path="/etc/rc.d"), False)
    assert run_op(fake, server.service, "svc") == ["/etc/init.d/svc start"]


def test_init_d_link_means_sysvinit(fake: FakeHost) -> None:
    _host(_tools(fake).fact(Link, {"link_target": "rc.d/init.d"}, path="/etc/init.d"), True)
    assert run_op(fake, server.service, "svc", running=False) == ["/etc/init.d/svc stop"]


def test_installed_but_idle_systemctl_falls_through_to_sysvinit(fake: FakeHost) -> None:
    _host(_tools(fake, "systemctl", "service"), True, links=["/etc/rc2.d/S01svc"])
    assert run_op(fake, server.service, "svc", enabled=False) == ["rm -f /etc/rc2.d/S01svc"]


def test_no_init_system_says_what_was_looked_for(fake: FakeHost) -> None:
    _tools(fake, "systemctl")
    with pytest.raises(OperationError, match=r"no init system found.*systemd is not running"):
        run_op(fake, server.service, "svc")


def test_server_service_needs_a_name(fake: FakeHost) -> None:
    with pytest.raises(OperationValueError, match=r"server\.service needs a service name"):
        run_op(fake, server.service, "")


# ---- facts


def test_initd_status_reads_lsb_codes() -> None:
    assert InitdStatus().process(["ssh=0", "cron=3", "hwclock.sh=1", "odd=4", "x=127", ""]) == {
        "ssh": True, "cron": False, "hwclock.sh": False, "odd": None, "x": None}


def test_link_facts_keep_only_the_service_own_links() -> None:
    command = InitdLinks().command(service="cron")
    assert command.startswith("find /etc -type l -path '/etc/rc*.d/[SK]*cron' | grep -E ")
    assert InitdLinks().process(["/etc/rc2.d/S01cron", "/etc/rc0.d/K01cron", ""]) == [
        "/etc/rc0.d/K01cron", "/etc/rc2.d/S01cron"]
    with pytest.raises(ValueError):
        InitdLinks().command(service="cron*")


def test_link_filter_in_a_real_shell() -> None:
    """The find glob also takes other services' links; the grep keeps the service's own."""
    found = ["/etc/rc2.d/S01cron", "/etc/rc2.d/S01anacron", "/etc/rc0.d/K01cron",
             "/etc/rc.d/rc3.d/S20cron", "/etc/rc2.d/S01cron.bak", "/etc/rc.d/init.d/S1cron",
             "/etc/rcS.d/S10cron", "/etc/rc2.d/Sxcron"]
    grep = InitdLinks().command(service="cron").split(" | ", 1)[1]
    proc = subprocess.run(["/bin/sh", "-c", f"printf '%s\\n' {' '.join(found)} | {grep}"],
                          capture_output=True, text=True, check=True)
    assert InitdLinks().process(proc.stdout.splitlines()) == [
        "/etc/rc.d/rc3.d/S20cron", "/etc/rc0.d/K01cron", "/etc/rc2.d/S01cron",
        "/etc/rcS.d/S10cron"]
