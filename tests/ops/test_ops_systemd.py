"""systemd operations and facts: facts in, commands out; the facts' parsing of real
`systemctl show` output shapes."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.catalogue.facts.systemd import SystemdEnabled, SystemdStatus, systemctl
from agent.catalogue.operations import systemd
from agent.compat import run_deploy
from agent.engine.errors import DeployError
from agent.engine.operation_errors import OperationValueError
from tests.ops.conftest import FakeHost, local_deploy, run_op

WHERE = {"user_mode": False, "machine": None, "user_name": None}


def _unit(fake: FakeHost, unit: str, running: bool | None, enabled: bool | None = None,
          **where) -> FakeHost:
    where = {**WHERE, **where}
    fake.fact(SystemdStatus, {} if running is None else {unit: running}, services=[unit],
              **where)
    fake.fact(SystemdEnabled, {} if enabled is None else {unit: enabled}, services=[unit],
              **where)
    return fake


SHOW = """Id=ssh.service
SubState=running

Id=apt-daily.timer
SubState=waiting

Id=nginx.service
SubState=dead

Id=not a unit
SubState=running
"""


def test_systemd_status_reads_show_output_as_pyinfra_does() -> None:
    assert SystemdStatus().process(SHOW.splitlines()) == {
        "ssh.service": True, "apt-daily.timer": True, "nginx.service": False}
    enabled = "Id=ssh.service\nUnitFileState=enabled\n\nId=x.service\nUnitFileState=disabled\n"
    assert SystemdEnabled().process(enabled.splitlines()) == {
        "ssh.service": True, "x.service": False}
    assert SystemdStatus().command(services=["a.service"]) == (
        "systemctl show --all --property Id --property SubState a.service")
    assert SystemdEnabled().command(user_mode=True, services="b.timer") == (
        "( systemctl --user show --all --property Id --property UnitFileState b.timer"
        " 2>/dev/null || true )")


@pytest.mark.parametrize(("where", "expected"), [
    ({}, "systemctl"),
    ({"user_mode": True}, "systemctl --user"),
    ({"machine": "box"}, "systemctl --machine=box"),
    ({"machine": "box", "user_name": "ann"}, "systemctl --machine=ann@box"),
    ({"user_name": "ann"}, "systemctl --machine=ann@.host"),
])
def test_the_manager_reached(where, expected) -> None:
    assert systemctl(**where).get_raw_value() == expected


def test_start_and_enable_a_stopped_unit(fake: FakeHost) -> None:
    _unit(fake, "nginx.service", False, False)
    assert run_op(fake, systemd.service, "nginx", enabled=True) == [
        "systemctl start nginx.service", "systemctl enable nginx.service"]


def test_a_running_enabled_unit_needs_nothing(fake: FakeHost) -> None:
    _unit(fake, "logrotate.timer", True, True)
    assert run_op(fake, systemd.service, "logrotate.timer", enabled=True) == []
    assert fake.noops == ["service logrotate.timer is running",
                          "service logrotate.timer is enabled"]


def test_stop_disable_and_restart_reload_only_when_running(fake: FakeHost) -> None:
    _unit(fake, "a.service", True, True)
    assert run_op(fake, systemd.service, "a.service", running=False, enabled=False) == [
        "systemctl stop a.service", "systemctl disable a.service"]
    assert run_op(fake, systemd.service, "a", restarted=True, reloaded=True) == [
        "systemctl restart a.service", "systemctl reload a.service"]
    _unit(fake, "a.service", False)
    assert run_op(fake, systemd.service, "a", running=None, restarted=True) == []


def test_daemon_reload_first_and_user_units(fake: FakeHost) -> None:
    _unit(fake, "sync.service", None, user_mode=True)
    assert run_op(fake, systemd.service, "sync", daemon_reload=True, user_mode=True) == [
        "systemctl --user daemon-reload", "systemctl --user start sync.service"]
    assert run_op(fake, systemd.daemon_reload, user_name="ann") == [
        "systemctl --machine=ann@.host daemon-reload"]
    assert systemd.daemon_reload.definition.is_idempotent is False


def test_a_missing_unit_name_is_an_argument_error(fake: FakeHost) -> None:
    with pytest.raises(OperationValueError, match="needs a unit name"):
        run_op(fake, systemd.service, "")


def test_an_unknown_argument_names_the_deploy_line(tmp_path: Path) -> None:
    inventory, deploys = local_deploy(tmp_path, "from pyinfra.operations import systemd\n\n"
                      "systemd.service(service='nginx', state='running')\n")
    deploy = deploys[0]
    with pytest.raises(DeployError) as caught:
        run_deploy(inventory, deploys)
    assert caught.value.where == f"{deploy}:3"
    assert "state" in str(caught.value)
