"""Differential cases on hosts that boot systemd: systemd.service, systemd.daemon_reload and
server.service against real pyinfra 3.10, state read with systemctl on each host.

The unit is a tiny daemon (tests/ops/bed_daemon.py): it writes the VERSION
its unit gave it to /run/bed-daemon.version and counts SIGHUPs in /run/bed-daemon.reloads.
"""

from __future__ import annotations

import pytest

from tests.differential import state, state_systemd
from tests.differential.harness import Case
from tests.ops.bed_daemon import DAEMON, UNIT
from tests.polling import wait_for
from tests.testbed import Host

FILES = {"files/bed-daemon": DAEMON, "files/bed-daemon.service": UNIT.format(version=2)}
UNIT_NAME = "bed-daemon.service"


def _installed(host: Host, start: bool) -> None:
    """The daemon's version-1 unit, loaded; started and enabled if `start`."""
    host.write_file("/usr/sbin/bed-daemon", DAEMON, 0o755)
    host.write_file(f"/etc/systemd/system/{UNIT_NAME}", UNIT.format(version=1))
    command = "systemctl daemon-reload"
    if start:
        command += f" && systemctl enable --now {UNIT_NAME}"
    host.run(command, check=True)
    if start:
        wait_for(lambda: host.read_text("/run/bed-daemon.version") == "1\n", 10,
                 "the daemon to start")


def _daemon_state(host: Host) -> dict:
    """The unit, and what the daemon itself wrote (after its signals have landed)."""
    if host.run(["systemctl", "is-active", "--quiet", UNIT_NAME]).returncode == 0:
        wait_for(lambda: host.exists("/run/bed-daemon.version"), 10, "the daemon to write")
    return {
        "units": state_systemd.units(host, [UNIT_NAME]),
        "version": host.read_text("/run/bed-daemon.version"),
        "wants_link": host.stat(f"/etc/systemd/system/multi-user.target.wants/{UNIT_NAME}",
                                follow_symlinks=False) is not None,
    }


def _reloads(host: Host) -> dict:
    found = _daemon_state(host)
    found["reloads"] = wait_for(lambda: host.read_text("/run/bed-daemon.reloads"), 10,
                                "the daemon to see SIGHUP")
    return found


USER_UNIT = """\
[Service]
ExecStart=/bin/sleep infinity

[Install]
WantedBy=default.target
"""


def _user_units(host: Host) -> None:
    """A user unit for deploy (whose manager runs: lingering) and one for root (whose manager
    starts with its SSH login's session)."""
    for home, owner in (("/home/deploy", "deploy"), ("/root", "root")):
        host.run(f"mkdir -p {home}/.config/systemd/user && chown -R {owner}: {home}/.config",
                 check=True)
        host.write_file(f"{home}/.config/systemd/user/bed-user.service", USER_UNIT)
        host.run(["chown", f"{owner}:", f"{home}/.config/systemd/user/bed-user.service"],
                 check=True)
    host.run("loginctl enable-linger deploy", check=True)


def _user_state(host: Host) -> dict:
    found = {}
    for who, manager in (("deploy", "--machine=deploy@.host"), ("root", "--machine=root@.host")):
        found[who] = {
            query: host.run(["systemctl", "--user", manager, query, "bed-user.service"],
                            timeout=30).stdout.strip()
            for query in ("is-active", "is-enabled")}
    return found


CASES = [
    Case(
        name="user units: another user's through user_name, and the login user's own",
        deploy='''
from pyinfra.operations import systemd
systemd.service(name="deploy's unit", service="bed-user", user_mode=True,
                user_name="deploy", running=True, enabled=True, daemon_reload=True)
systemd.service(name="root's unit", service="bed-user.service", user_mode=True,
                running=True, enabled=True)
''',
        setup=_user_units,
        systemd=True,
        state=_user_state,
    ),
    Case(
        name="unit file written, daemon_reload, started and enabled",
        deploy='''
from pyinfra.operations import files, systemd
files.put(name="daemon", src="files/bed-daemon", dest="/usr/sbin/bed-daemon", mode="755")
files.put(name="unit", src="files/bed-daemon.service",
          dest="/etc/systemd/system/bed-daemon.service")
systemd.service(name="up", service="bed-daemon", running=True, enabled=True,
                daemon_reload=True)
systemd.daemon_reload(name="reload again")
''',
        files=FILES,
        systemd=True,
        state=_daemon_state,
    ),
    Case(
        name="a running enabled unit stopped and disabled",
        deploy='''
from pyinfra.operations import systemd
systemd.service(name="down", service="bed-daemon.service", running=False, enabled=False)
''',
        setup=lambda h: _installed(h, start=True),
        systemd=True,
        state=_daemon_state,
    ),
    Case(
        name="restarted and reloaded fire on a running unit, every run",
        deploy='''
from pyinfra.operations import systemd
systemd.service(name="reload", service="bed-daemon", reloaded=True)
systemd.service(name="restart", service="bed-daemon", restarted=True)
''',
        setup=lambda h: _installed(h, start=True),
        systemd=True,
        state=_reloads,
    ),
    Case(
        name="a changed unit file restarted with daemon_reload runs the new definition",
        deploy='''
from pyinfra.operations import files, systemd
unit = files.put(name="unit", src="files/bed-daemon.service",
                 dest="/etc/systemd/system/bed-daemon.service")
systemd.service(name="restart", service="bed-daemon", restarted=True, daemon_reload=True,
                _if=unit.did_change)
''',
        files=FILES,
        setup=lambda h: _installed(h, start=True),
        systemd=True,
        state=_daemon_state,
    ),
    Case(
        name="server.service on systemd starts and enables, then stops another",
        deploy='''
from pyinfra.operations import server
server.service(name="svc", service="bed-daemon", running=True, enabled=True)
server.service(name="no logind", service="systemd-logind", running=False)
''',
        setup=lambda h: _installed(h, start=False),
        systemd=True,
        state=lambda h: {**_daemon_state(h),
                         "logind": state_systemd.units(h, ["systemd-logind.service"]),
                         "services": state.services(h, ["bed-daemon", "ssh"])},
    ),
    Case(
        # Both tools read enablement from `systemctl show -p UnitFileState`, which says
        # "generated" for a unit systemd made from an init.d script, never enabled: so
        # enabled=True runs `systemctl enable` (through systemd-sysv-install) on every run.
        name="server.service on systemd: an init.d script through the sysv generator",
        deploy='''
from pyinfra.operations import apt, server, systemd
apt.packages(name="svc package", packages=["pullinfra-svc"])
systemd.daemon_reload(name="reload units")
server.service(name="svc", service="pullinfra-svc", running=True, enabled=True)
''',
        systemd=True,
        state=lambda h: {"units": state_systemd.units(h, ["pullinfra-svc.service"]),
                         "rc2": h.run("ls /etc/rc2.d | grep pullinfra").stdout},
    ),
    Case(
        name="units the host runs already: a timer, a socket, ssh",
        deploy='''
from pyinfra.operations import server, systemd
systemd.service(name="timer", service="systemd-tmpfiles-clean.timer", running=True)
systemd.service(name="socket", service="dbus.socket", running=True)
systemd.service(name="ssh", service="ssh", running=True, enabled=True)
server.service(name="journald", service="systemd-journald", running=True)
''',
        systemd=True,
        state=lambda h: state_systemd.units(h, ["systemd-tmpfiles-clean.timer", "dbus.socket",
                                                "ssh.service", "systemd-journald.service"]),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_systemd_matches_pyinfra(differential, case):
    differential.check(case)
