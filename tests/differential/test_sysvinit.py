"""Differential cases for sysvinit.service, sysvinit.enable and server.service on the bed's
SysV hosts (init.d scripts, no systemd), with the `pullinfra-svc` package's init.d service."""

from __future__ import annotations

import json

import pytest

from agent.catalogue.facts.sysvinit import InitdStatus
from agent.compat import run_deploy
from agent.vocab import OpStatus
from tests.differential import state
from tests.differential.harness import REAL_PYINFRA_SCRIPT, Case
from tests.differential.state_sysvinit import rc_links
from tests.oracle import require_oracle, run_oracle, run_oracle_file
from tests.testbed import Host

SVC = "pullinfra-svc"
RELOADS = "/run/pullinfra-svc.reloads"


def _installed(host: Host) -> None:
    host.run("DEBIAN_FRONTEND=noninteractive apt-get install -y -q pullinfra-svc", check=True)


def _running_and_enabled(host: Host) -> None:
    _installed(host)
    host.run(f"update-rc.d {SVC} defaults && /etc/init.d/{SVC} start", check=True)


def _plain_sysvinit(host: Host) -> None:
    # The bed's hosts have systemctl installed (systemd not running), and pyinfra's
    # server.service would take them for systemd hosts: without it they are plain SysV hosts.
    _installed(host)
    host.run("rm /usr/bin/systemctl", check=True)


def _left_disabled(host: Host) -> None:
    """Enabled, then disabled as sysvinit.service(enabled=False) does: kill links only."""
    _installed(host)
    host.run(f"update-rc.d {SVC} defaults && rm -f /etc/rc[2345].d/S01{SVC}", check=True)


def _service_state(host: Host) -> dict:
    return {"services": state.services(host, [SVC]), "links": rc_links(host, SVC)}


def _service_and_reloads(host: Host) -> dict:
    return {**_service_state(host), "reloads": host.read_text(RELOADS)}


CASES = [
    Case(
        name="sysvinit.service starts and enables a new service",
        deploy='''
from pyinfra.operations import sysvinit
sysvinit.service(name="svc", service="pullinfra-svc", running=True, enabled=True)
''',
        setup=_installed,
        state=_service_state,
    ),
    Case(
        name="sysvinit.service stops and disables a running service",
        deploy='''
from pyinfra.operations import sysvinit
sysvinit.service(name="svc", service="pullinfra-svc", running=False, enabled=False)
''',
        setup=_running_and_enabled,
        state=_service_state,
    ),
    Case(
        name="sysvinit.service reloads, runs a command and restarts a running service",
        deploy='''
from pyinfra.operations import sysvinit
sysvinit.service(name="reload", service="pullinfra-svc", reloaded=True)
sysvinit.service(name="command", service="pullinfra-svc", running=None, command="reload")
sysvinit.service(name="restart", service="pullinfra-svc", restarted=True)
''',
        setup=_running_and_enabled,
        state=_service_and_reloads,
    ),
    Case(
        name="sysvinit.service leaves a stopped service alone on restart and reload",
        deploy='''
from pyinfra.operations import sysvinit
sysvinit.service(name="svc", service="pullinfra-svc", running=False, restarted=True,
                 reloaded=True, enabled=False)
''',
        setup=_installed,
        state=_service_and_reloads,
    ),
    Case(
        name="sysvinit.enable default and chosen runlevel links",
        deploy='''
from pyinfra.operations import sysvinit
sysvinit.enable(name="defaults", service="pullinfra-svc")
sysvinit.enable(name="chosen", service="pullinfra-svc", start_priority=5, stop_priority=95,
                start_levels=(3,), stop_levels=(0, 6))
''',
        setup=_installed,
        state=_service_state,
    ),
    Case(
        name="server.service on a plain SysV host",
        deploy='''
from pyinfra.operations import server
server.service(name="start", service="pullinfra-svc", running=True, enabled=True)
server.service(name="restart", service="pullinfra-svc", restarted=True)
''',
        setup=_plain_sysvinit,
        state=_service_state,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_sysvinit_matches_pyinfra(differential, case):
    differential.check(case)


def test_enable_after_disable(differential):
    """pyinfra is wrong here: with kill links left (as its own enabled=False leaves them),
    `update-rc.d defaults` adds nothing, so the service never starts at boot and the
    operation reports a change on every run. pullinfra removes the kill links first."""
    comparison = differential.run(Case(
        name="enable after disable",
        deploy='''
from pyinfra.operations import sysvinit
sysvinit.service(name="enable", service="pullinfra-svc", running=None, enabled=True)
''',
        setup=_left_disabled,
        state=_service_state,
    ))
    theirs, ours = comparison.pyinfra, comparison.pullinfra
    assert [run["h1"][0].changed for run in theirs.runs] == [True, True]
    assert not theirs.state["h1"]["services"][SVC]["enabled"]
    assert not ours.failures
    assert [run["h1"][0].changed for run in ours.runs] == [True, False]
    assert ours.state["h1"]["services"][SVC] == {"running": False, "enabled": True}
    assert ours.state["h1"]["links"] == {
        **{f"/etc/rc{n}.d/K01{SVC}": f"../init.d/{SVC}" for n in "016"},
        **{f"/etc/rc{n}.d/S01{SVC}": f"../init.d/{SVC}" for n in "2345"}}


SERVER_SERVICE = '''
from pyinfra.operations import server
server.service(name="svc", service="pullinfra-svc", running=True, enabled=True)
'''


def test_server_service_with_systemctl_installed_but_not_running(bed_hosts, bed_inventory,
                                                                  write):
    """pyinfra is wrong here: it takes any host with a systemctl for a systemd host, and its
    systemd.service fails where systemd is not running (the bed's hosts, many containers).
    pullinfra goes on to the next init system, the init.d scripts here."""
    require_oracle()
    theirs, ours = bed_hosts(2)
    for host in (theirs, ours):
        _installed(host)
    deploy = write("deploy.py", SERVER_SERVICE)
    pyinfra = run_oracle_file(REAL_PYINFRA_SCRIPT,
                              [str(bed_inventory({"h1": theirs}, name="theirs.py")), str(deploy)],
                              cwd=deploy.parent, timeout=300, check=False)
    assert pyinfra.returncode != 0 and "systemd" in pyinfra.stderr, pyinfra.stderr
    assert state.services(theirs, [SVC]) == {SVC: {"running": False, "enabled": False}}

    inventory = str(bed_inventory({"h1": ours}, name="ours.py"))
    for expected in (OpStatus.CHANGED, OpStatus.NO_CHANGE):
        [host] = run_deploy(inventory, [str(deploy)]).hosts
        assert [(op.name, op.status) for op in host.operations] == [("svc", expected)], [
            op.error for op in host.operations]
    assert state.services(ours, [SVC]) == {SVC: {"running": True, "enabled": True}}


PYINFRA_INITD_STATUS = '''
import json, sys
from pyinfra.facts.sysvinit import InitdStatus
fact = InitdStatus()
if sys.argv[1] == "command":
    print(fact.command())
else:
    print(json.dumps(fact.process(json.loads(sys.argv[2]))))
'''


def test_initd_status_fact_matches_pyinfra(bed_host):
    """Both facts on one host, each running its own command: the same statuses, except the
    scripts pyinfra's parser cannot name (a `.` or `_` in the name, as hwclock.sh)."""
    _running_and_enabled(bed_host)
    command = run_oracle(PYINFRA_INITD_STATUS, ["command"]).stdout
    output = bed_host.run(command, check=True).stdout.splitlines()
    theirs = json.loads(run_oracle(PYINFRA_INITD_STATUS, ["process", json.dumps(output)]).stdout)
    ours = InitdStatus().process(bed_host.run(InitdStatus().command(), check=True)
                                 .stdout.splitlines())
    assert theirs[SVC] is True and ours[SVC] is True
    unreadable = {name for name in ours if "." in name or "_" in name}
    assert unreadable, "the bed has hwclock.sh: expected a name pyinfra cannot read"
    assert {k: v for k, v in ours.items() if k not in unreadable} == theirs
