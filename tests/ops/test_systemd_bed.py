"""systemd.service, systemd.daemon_reload and server.service on a bed host that boots systemd,
through pullinfra's engine over SSH.

The unit is the bed's own tiny daemon (a shell loop that writes the VERSION it was started
with to /run/bed-daemon.version and counts SIGHUPs in /run/bed-daemon.reloads), written with
files.put. State is read inside the host with systemctl, never through pullinfra's facts.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from agent.compat import run_deploy
from agent.engine.result import RunResult
from agent.engine.run import RunOptions
from agent.vocab import OpStatus
from tests.ops.bed_daemon import DAEMON, UNIT
from tests.polling import wait_for

PUT_UNIT = '''
files.put(name="daemon", src="files/bed-daemon", dest="/usr/sbin/bed-daemon", mode="755")
files.put(name="unit", src="files/bed-daemon.service",
          dest="/etc/systemd/system/bed-daemon.service")
'''


def _project(tmp_path: Path, body: str, version: int = 1) -> Path:
    """A deploy of its own (deploy1.py, deploy2.py, ...) beside the unit's current files."""
    files = tmp_path / "files"
    files.mkdir(exist_ok=True)
    (files / "bed-daemon").write_text(DAEMON)
    (files / "bed-daemon.service").write_text(UNIT.format(version=version))
    deploy = tmp_path / f"deploy{len(list(tmp_path.glob('deploy*.py'))) + 1}.py"
    deploy.write_text("from pyinfra.operations import files, server, systemd\n"
                      + textwrap.dedent(body))
    return deploy


def _run(inventory: Path, deploy: Path) -> RunResult:
    return run_deploy(inventory, [deploy], RunOptions(project_root=deploy.parent))


def _statuses(result: RunResult) -> dict[str, str]:
    host = result.host("h1")
    assert host.error is None, host.error
    return {op.name: op.status for op in host.operations}


def _unit(host, unit: str = "bed-daemon.service") -> tuple[str, str]:
    active = host.run(["systemctl", "is-active", unit]).stdout.strip()
    enabled = host.run(["systemctl", "is-enabled", unit]).stdout.strip()
    return active, enabled


def _main_pid(host, unit: str = "bed-daemon.service") -> int:
    return int(host.run(["systemctl", "show", "-p", "MainPID", "--value", unit],
                        check=True).stdout)


CHANGED, NO_CHANGE = OpStatus.CHANGED, OpStatus.NO_CHANGE


def test_a_new_unit_is_started_and_enabled_after_daemon_reload_then_settles(
        systemd_host, bed_inventory, tmp_path):
    inventory = bed_inventory({"h1": systemd_host})
    deploy = _project(tmp_path, PUT_UNIT + '''
systemd.service(name="up", service="bed-daemon", running=True, enabled=True,
                daemon_reload=True)
''')
    first = _run(inventory, deploy)
    assert _statuses(first) == {"daemon": CHANGED, "unit": CHANGED, "up": CHANGED}
    assert first.host("h1").operations[2].commands == [
        "systemctl daemon-reload", "systemctl start bed-daemon.service",
        "systemctl enable bed-daemon.service"]
    assert _unit(systemd_host) == ("active", "enabled")
    assert systemd_host.exists("/etc/systemd/system/multi-user.target.wants/bed-daemon.service")
    wait_for(lambda: systemd_host.read_text("/run/bed-daemon.version") == "1\n", 10,
             "the daemon to start")

    settled = _project(tmp_path, PUT_UNIT + '''
systemd.service(name="up", service="bed-daemon.service", running=True, enabled=True)
''')
    second = _run(inventory, settled)
    assert _statuses(second) == {"daemon": NO_CHANGE, "unit": NO_CHANGE, "up": NO_CHANGE}
    # daemon_reload=True reloads on every run, as in pyinfra: the operation always changes
    third = _run(inventory, deploy)
    assert _statuses(third) == {"daemon": NO_CHANGE, "unit": NO_CHANGE, "up": CHANGED}
    assert third.host("h1").operations[2].commands == ["systemctl daemon-reload"]


def test_daemon_reload_makes_a_restart_use_the_changed_unit_file(
        systemd_host, bed_inventory, tmp_path):
    inventory = bed_inventory({"h1": systemd_host})
    start = _project(tmp_path, PUT_UNIT + '''
systemd.service(name="up", service="bed-daemon", daemon_reload=True)
''')
    assert _statuses(_run(inventory, start))["up"] == CHANGED
    wait_for(lambda: systemd_host.read_text("/run/bed-daemon.version") == "1\n", 10,
             "version 1 to start")
    # Without daemon-reload, systemd restarts the unit as it last loaded it (version 1) ...
    stale = _project(tmp_path, PUT_UNIT + '''
systemd.service(name="restart", service="bed-daemon", restarted=True)
''', version=2)
    assert _statuses(_run(inventory, stale)) == {"daemon": NO_CHANGE, "unit": CHANGED,
                                                 "restart": CHANGED}
    wait_for(lambda: systemd_host.read_text("/run/bed-daemon.version") == "1\n", 10,
             "the restarted daemon")
    assert systemd_host.run(["systemctl", "show", "-p", "NeedDaemonReload", "--value",
                             "bed-daemon.service"]).stdout.strip() == "yes"
    # ... with it, the restart runs the new file's definition.
    fresh = _project(tmp_path, PUT_UNIT + '''
systemd.service(name="restart", service="bed-daemon", restarted=True, daemon_reload=True)
''', version=2)
    result = _run(inventory, fresh)
    assert _statuses(result) == {"daemon": NO_CHANGE, "unit": NO_CHANGE, "restart": CHANGED}
    assert result.host("h1").operations[2].commands == [
        "systemctl daemon-reload", "systemctl restart bed-daemon.service"]
    wait_for(lambda: systemd_host.read_text("/run/bed-daemon.version") == "2\n", 10,
             "version 2 to run")


def test_restart_reload_stop_and_disable_on_real_systemd(systemd_host, bed_inventory,
                                                          tmp_path):
    inventory = bed_inventory({"h1": systemd_host})
    setup = _project(tmp_path, PUT_UNIT + '''
systemd.service(name="up", service="bed-daemon", enabled=True, daemon_reload=True)
''')
    assert _statuses(_run(inventory, setup))["up"] == CHANGED
    wait_for(lambda: systemd_host.exists("/run/bed-daemon.version"), 10, "the daemon")
    pid = _main_pid(systemd_host)

    restart = _project(tmp_path, '''
systemd.service(name="restart", service="bed-daemon", restarted=True)
''')
    assert _statuses(_run(inventory, restart)) == {"restart": CHANGED}
    assert _main_pid(systemd_host) not in (0, pid)

    reload = _project(tmp_path, '''
systemd.service(name="reload", service="bed-daemon", reloaded=True)
''')
    assert _statuses(_run(inventory, reload)) == {"reload": CHANGED}
    wait_for(lambda: systemd_host.read_text("/run/bed-daemon.reloads") == "reload\n", 10,
             "the daemon to see SIGHUP")

    down = _project(tmp_path, '''
systemd.service(name="down", service="bed-daemon", running=False, enabled=False)
''')
    stopped = _run(inventory, down)
    assert _statuses(stopped) == {"down": CHANGED}
    assert stopped.host("h1").operations[0].commands == [
        "systemctl stop bed-daemon.service", "systemctl disable bed-daemon.service"]
    assert _unit(systemd_host) == ("inactive", "disabled")
    assert _statuses(_run(inventory, down)) == {"down": NO_CHANGE}
    # restarted/reloaded act only on a running unit: a stopped one stays stopped
    idle = _project(tmp_path, '''
systemd.service(name="idle", service="bed-daemon", running=None, restarted=True,
                reloaded=True)
''')
    assert _statuses(_run(inventory, idle)) == {"idle": NO_CHANGE}
    assert _unit(systemd_host) == ("inactive", "disabled")


def test_server_service_on_systemd_drives_systemctl(systemd_host, bed_inventory, tmp_path):
    inventory = bed_inventory({"h1": systemd_host})
    deploy = _project(tmp_path, PUT_UNIT + '''
systemd.daemon_reload(name="reload units")
server.service(name="svc", service="bed-daemon", running=True, enabled=True)
''')
    first = _run(inventory, deploy)
    assert _statuses(first) == {"daemon": CHANGED, "unit": CHANGED, "reload units": CHANGED,
                                "svc": CHANGED}
    assert first.host("h1").operations[3].commands == [
        "systemctl start bed-daemon.service", "systemctl enable bed-daemon.service"]
    assert _unit(systemd_host) == ("active", "enabled")
    again = _run(inventory, deploy)
    assert _statuses(again) == {"daemon": NO_CHANGE, "unit": NO_CHANGE,
                                "reload units": CHANGED, "svc": NO_CHANGE}
    stop = _project(tmp_path, '''
server.service(name="svc", service="bed-daemon", running=False, enabled=False)
''')
    assert _statuses(_run(inventory, stop)) == {"svc": CHANGED}
    assert _unit(systemd_host) == ("inactive", "disabled")


def test_server_service_starts_a_sysv_script_through_systemd(systemd_host, bed_inventory,
                                                             tmp_path):
    # An init.d script on a systemd host is a unit made by systemd's sysv generator, which
    # runs at daemon-reload (the bed's pullinfra-svc package has no postinst that would).
    inventory = bed_inventory({"h1": systemd_host})
    deploy = _project(tmp_path, '''
from pyinfra.operations import apt
apt.packages(name="svc package", packages=["pullinfra-svc"])
systemd.daemon_reload(name="reload units")
server.service(name="svc", service="pullinfra-svc", running=True)
''')
    result = _run(inventory, deploy)
    assert _statuses(result) == {"svc package": CHANGED, "reload units": CHANGED,
                                 "svc": CHANGED}
    assert _unit(systemd_host, "pullinfra-svc.service")[0] == "active"
    unit = systemd_host.run(["systemctl", "show", "-p", "SourcePath", "--value",
                             "pullinfra-svc.service"], check=True).stdout.strip()
    assert unit == "/etc/init.d/pullinfra-svc"
    assert systemd_host.run(["/etc/init.d/pullinfra-svc", "status"]).returncode == 0
