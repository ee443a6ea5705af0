"""systemd/'s units, as shipped, under real systemd (PID 1 of a bed host): readiness, status,
the watchdog, a clean stop that delivers reports, and the on-host agent applying a push."""

from __future__ import annotations

import json
import re
import shlex
import textwrap
from pathlib import Path

import pytest

from tests.agent.gitfixtures import remote_on_bed_host
from tests.agent.receivers import Receiver
from tests.polling import wait_for
from tests.systemd_units.installed import (
    http_get,
    install_pullinfra,
    install_systemd,
    journal,
    main_pid,
    unit_property,
    wait_status,
    wheelhouse,
)

pytestmark = pytest.mark.bed

README = Path(__file__).resolve().parents[2] / "README.md"
CENTRAL = "pullinfra.service"
LOCAL = "pullinfra-local.service"
PORT = 9469
SECURITY_TARGET = 2.5

INVENTORY = 'here = ["@local"]\n'
CENTRAL_DEPLOY = textwrap.dedent('''\
    from pyinfra.operations import files

    files.directory(name="Mark the applied commit", path="/var/lib/pullinfra/applied/{v}")
''')
LOCAL_DEPLOY = textwrap.dedent('''\
    from pyinfra.operations import files

    files.directory(name="Mark the applied commit", path="/srv/applied/{v}")
''')


@pytest.fixture(scope="session")
def wheels(tmp_path_factory):
    return wheelhouse(tmp_path_factory.mktemp("wheelhouse"))


@pytest.fixture
def host(systemd_host, wheels):
    install_pullinfra(systemd_host, wheels)
    return systemd_host


def fleet_repo(host, tmp_path, deploy: str):
    remote, _ = remote_on_bed_host(tmp_path / "repo", host, "/srv/fleet.git")
    sha = remote.commit_and_push({"inventory.py": INVENTORY, "deploy.py": deploy.format(v=1)},
                                 "first")
    return remote, sha


def central_config(host, notify_url: str | None = None, listen: str = f"127.0.0.1:{PORT}"
                   ) -> None:
    text = textwrap.dedent(f'''\
        [source]
        url = "file:///srv/fleet.git"
        poll_interval = "1s"

        [[deployment]]
        name = "fleet"
        inventory = "inventory.py"
        deploys = ["deploy.py"]

        [reconcile]
        interval = 0

        [http]
        listen = "{listen}"
    ''')
    if notify_url:
        text += f'\n[[notify]]\ntype = "webhook"\nname = "ops"\nurl = "{notify_url}"\n'
    host.run(["mkdir", "-p", "/etc/pullinfra"], check=True)
    host.write_file("/etc/pullinfra/config.toml", text, mode=0o640)


def start_central(host) -> None:
    """Install, hand the repository to the service's user (git refuses to read a repository
    another user owns), then start."""
    done = install_systemd(host, "--mode", "central", "--no-start")
    assert done.returncode == 0, done.stderr
    host.run(["chown", "-R", "pullinfra:pullinfra", "/srv/fleet.git"], check=True)
    done = install_systemd(host, "--mode", "central")
    assert done.returncode == 0, done.stderr + journal(host, CENTRAL)


def test_every_unit_verifies_and_the_central_unit_is_hardened(host, record_property):
    for mode in ("central", "local", "once"):
        done = install_systemd(host, "--mode", mode, "--repo", "file:///srv/fleet.git",
                               "--no-start")
        assert done.returncode == 0, done.stderr
    units = [f"/etc/systemd/system/{name}" for name in (
        CENTRAL, LOCAL, "pullinfra-once.service", "pullinfra-once.timer")]
    verify = host.run(["systemd-analyze", "verify", *units])
    assert verify.returncode == 0, verify.stderr
    assert "pullinfra" not in verify.stderr, verify.stderr
    assert host.run(["id", "-u", "pullinfra"]).returncode == 0  # sysusers.d made the user
    host.run(["systemctl", "daemon-reload"], check=True)
    security = host.run(["systemd-analyze", "security", "--no-pager", CENTRAL])
    score = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", security.stdout)
    assert score, security.stdout + security.stderr
    record_property("systemd_analyze_security_pullinfra_service", score.group(0))
    print(score.group(0))
    assert float(score.group(1)) <= SECURITY_TARGET, security.stdout


def test_start_returns_once_the_agent_is_ready_and_status_shows_the_revision(host, tmp_path):
    _, sha = fleet_repo(host, tmp_path, CENTRAL_DEPLOY)
    central_config(host)
    start_central(host)  # systemctl enable --now: returns after READY=1
    assert unit_property(host, CENTRAL, "Type") == "notify"
    assert unit_property(host, CENTRAL, "ActiveState") == "active"
    assert http_get(host, PORT, "/healthz")[0] == 200  # serving when start returned
    assert unit_property(host, CENTRAL, "User") == "pullinfra"
    wait_status(host, CENTRAL, f"applied: fleet {sha[:12]}")
    assert host.exists("/var/lib/pullinfra/applied/1")
    owner = host.run(["stat", "-c", "%U", "/var/lib/pullinfra/state.db"]).stdout.strip()
    assert owner == "pullinfra"


def test_an_agent_that_cannot_start_never_becomes_active(host, tmp_path):
    fleet_repo(host, tmp_path, CENTRAL_DEPLOY)
    # A port below 1024 needs a capability the unit does not give: the agent exits before
    # READY=1, so the start job fails instead of reporting a running service.
    central_config(host, listen="127.0.0.1:80")
    done = install_systemd(host, "--mode", "central")
    assert done.returncode == 1, done.stderr
    assert unit_property(host, CENTRAL, "ActiveState") != "active"
    assert unit_property(host, CENTRAL, "ActiveEnterTimestampMonotonic") == "0"
    assert "cannot listen there" in journal(host, CENTRAL)


def test_a_stopped_agent_is_restarted_by_the_watchdog(host, tmp_path):
    fleet_repo(host, tmp_path, CENTRAL_DEPLOY)
    central_config(host)
    start_central(host)
    frozen = main_pid(host, CENTRAL)
    host.run(["kill", "-STOP", str(frozen)], check=True)
    wait_for(lambda: main_pid(host, CENTRAL) not in (0, frozen)
             and unit_property(host, CENTRAL, "ActiveState") == "active",
             90, "systemd to restart the frozen agent", interval=1,
             describe=lambda: journal(host, CENTRAL))
    assert int(unit_property(host, CENTRAL, "NRestarts")) >= 1
    assert "Watchdog timeout" in journal(host, CENTRAL)
    assert http_get(host, PORT, "/healthz")[0] == 200


def test_systemctl_stop_delivers_pending_reports_and_exits_cleanly(host, tmp_path, bed):
    fleet_repo(host, tmp_path, CENTRAL_DEPLOY)
    # The receiver is down for now and asks for a retry in five minutes, so only the stop's
    # last delivery pass can bring the report over within this test.
    receiver = Receiver(status=503, headers={"Retry-After": "300"}, bind=bed.gateway).start()
    try:
        central_config(host, notify_url=f"http://{bed.gateway}:{receiver.port}/hook")
        start_central(host)
        wait_for(lambda: receiver.received(), 60, "the first delivery attempt",
                 describe=lambda: journal(host, CENTRAL))
        assert "pullinfra_notification_queue_depth 1.0" in http_get(host, PORT, "/metrics")[1]
        receiver.status = 200
        done = host.run(["systemctl", "stop", CENTRAL], timeout=120)
        assert done.returncode == 0, done.stderr
        delivered = receiver.received()
        assert len(delivered) >= 2, journal(host, CENTRAL)
        report = delivered[-1].json()
        assert report["deployment"] == "fleet" and report["status"] == "changed"
        assert unit_property(host, CENTRAL, "ActiveState") == "inactive"
        assert unit_property(host, CENTRAL, "Result") == "success"
        assert unit_property(host, CENTRAL, "ExecMainStatus") == "0"
        assert '"pending_reports": 0' in journal(host, CENTRAL) or \
            "pending_reports=0" in journal(host, CENTRAL)
    finally:
        receiver.stop()


def readme_install_command() -> list[str]:
    """The README's one command that installs the on-host unit, as a new user types it."""
    found = re.search(r"^sudo \.venv/bin/pullinfra (install-systemd .*)$", README.read_text(),
                      re.M)
    assert found, "README.md lost its install-systemd command"
    return shlex.split(found.group(1))


def test_the_on_host_agent_applies_a_push(host, tmp_path):
    remote, first = fleet_repo(host, tmp_path, LOCAL_DEPLOY)
    command = readme_install_command()
    command[command.index("--repo") + 1] = "file:///srv/fleet.git"  # the repository here
    # A short poll interval instead of the default minute, so the test does not wait.
    done = install_systemd(host, *command[1:], "--poll-interval", "1s")
    assert done.returncode == 0, done.stderr + journal(host, LOCAL)
    assert unit_property(host, LOCAL, "ActiveState") == "active"
    wait_status(host, LOCAL, f"applied: local {first[:12]}")
    assert host.exists("/srv/applied/1")
    second = remote.commit_and_push({"deploy.py": LOCAL_DEPLOY.format(v=2)}, "second")
    wait_status(host, LOCAL, f"applied: local {second[:12]}")
    assert host.exists("/srv/applied/2")
    runs = json.loads(host.run(["/usr/local/bin/pullinfra", "history", "--json", "--config",
                                "/etc/pullinfra/config.toml"], check=True).stdout)
    assert [r["revision"] for r in runs][:2] == [second, first]
