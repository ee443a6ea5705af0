"""server operations: shell and service command generation."""

from __future__ import annotations

import pytest

from agent.catalogue.facts.files import Directory
from agent.catalogue.facts.server import Groups, Which
from agent.catalogue.facts.systemd import SystemdRunning, UnitActive, UnitEnabled
from agent.catalogue.facts.sysvinit import ServiceStatus, StartLinks
from agent.catalogue.operations import server
from agent.engine.operation_errors import OperationError
from tests.ops.conftest import FakeHost, run_op


def test_shell_runs_every_time(fake: FakeHost) -> None:
    assert run_op(fake, server.shell, "echo hi") == ["echo hi"]
    assert run_op(fake, server.shell, ["a", "b && c"]) == ["a", "b && c"]
    assert server.shell.definition.is_idempotent is False


def _sysv(fake: FakeHost, running: bool | None, links: list[str] | None = None) -> FakeHost:
    fake.fact(SystemdRunning, False)
    fake.fact(Which, "/usr/sbin/service", command="service")
    fake.fact(Which, "/usr/sbin/update-rc.d", command="update-rc.d")
    fake.fact(ServiceStatus, running, service="nginx")
    fake.fact(StartLinks, links or [], service="nginx")
    return fake


def test_sysv_start_and_noop(fake: FakeHost) -> None:
    _sysv(fake, False)
    assert run_op(fake, server.service, "nginx") == ["service nginx start"]
    _sysv(fake, True)
    assert run_op(fake, server.service, "nginx") == []
    assert fake.noops == ["service nginx is running"]


def test_sysv_stop(fake: FakeHost) -> None:
    _sysv(fake, True)
    assert run_op(fake, server.service, "nginx", running=False) == ["service nginx stop"]
    _sysv(fake, False)
    assert run_op(fake, server.service, "nginx", running=False) == []


def test_reload_and_restart_fire_only_when_already_running(fake: FakeHost) -> None:
    _sysv(fake, True)
    assert run_op(fake, server.service, "nginx", reloaded=True) == ["service nginx reload"]
    assert run_op(fake, server.service, "nginx", restarted=True) == ["service nginx restart"]
    _sysv(fake, False)
    assert run_op(fake, server.service, "nginx", reloaded=True) == ["service nginx start"]
    assert run_op(fake, server.service, "nginx", running=None, command="configtest") == [
        "service nginx configtest"
    ]


def test_sysv_enable_and_disable(fake: FakeHost) -> None:
    _sysv(fake, True)
    assert run_op(fake, server.service, "nginx", enabled=True) == [
        "update-rc.d nginx defaults",
        "update-rc.d nginx enable",
    ]
    _sysv(fake, True, links=["/etc/rc2.d/S01nginx"])
    assert run_op(fake, server.service, "nginx", enabled=True) == []
    assert run_op(fake, server.service, "nginx", enabled=False) == ["update-rc.d nginx disable"]
    _sysv(fake, True)
    assert run_op(fake, server.service, "nginx", enabled=False) == []


def test_sysv_without_service_tool_uses_initd(fake: FakeHost) -> None:
    fake.fact(SystemdRunning, False)
    fake.fact(Which, None, command="service")
    fake.fact(Directory, {"mode": 755}, path="/etc/init.d")
    fake.fact(ServiceStatus, False, service="nginx")
    assert run_op(fake, server.service, "nginx") == ["/etc/init.d/nginx start"]


def test_systemd_when_running(fake: FakeHost) -> None:
    fake.fact(SystemdRunning, True).fact(Which, "/usr/bin/systemctl", command="systemctl")
    fake.fact(UnitActive, False, service="nginx").fact(UnitEnabled, False, service="nginx")
    assert run_op(fake, server.service, "nginx", enabled=True) == [
        "systemctl start nginx.service",
        "systemctl enable nginx.service",
    ]
    fake.fact(UnitActive, True, service="nginx").fact(UnitEnabled, True, service="nginx")
    assert run_op(fake, server.service, "nginx", enabled=True) == []
    assert run_op(fake, server.service, "nginx", reloaded=True) == [
        "systemctl reload nginx.service"
    ]


def test_no_init_system(fake: FakeHost) -> None:
    fake.fact(SystemdRunning, False).fact(Which, None, command="service")
    fake.fact(Directory, None, path="/etc/init.d")
    with pytest.raises(OperationError, match="no init system"):
        run_op(fake, server.service, "nginx")


def test_service_name_is_validated(fake: FakeHost) -> None:
    with pytest.raises(OperationError, match="invalid service name"):
        run_op(fake, server.service, "nginx; reboot")


def test_group(fake: FakeHost) -> None:
    fake.fact(Groups, ["root", "adm"])
    assert run_op(fake, server.group, "web", system=True, gid=990) == ["groupadd -r -g 990 web"]
    assert run_op(fake, server.group, "adm") == []
    assert run_op(fake, server.group, "adm", present=False) == ["groupdel adm"]
    assert run_op(fake, server.group, "web", present=False) == []
    assert fake.noops == ["group adm exists", "group web does not exist"]
