"""server operations: shell and service command generation."""

from __future__ import annotations

import pytest

from agent.catalogue.facts.files import Directory, Link
from agent.catalogue.facts.server import Groups, LinuxDistribution, Os, Which
from agent.catalogue.facts.systemd import SystemdEnabled, SystemdRunning, SystemdStatus
from agent.catalogue.facts.sysvinit import InitdLinks, InitdStatus
from agent.catalogue.operations import server
from agent.engine.operation_errors import OperationError
from tests.ops.conftest import FakeHost, run_op


def test_shell_runs_every_time(fake: FakeHost) -> None:
    assert run_op(fake, server.shell, "echo hi") == ["echo hi"]
    assert run_op(fake, server.shell, ["a", "b && c"]) == ["a", "b && c"]
    assert server.shell.definition.is_idempotent is False


def _sysv(fake: FakeHost, running: bool | None, links: list[str] | None = None) -> FakeHost:
    # A Debian host with systemctl installed but systemd not running: server.service goes to
    # sysvinit.service (tests/ops/test_ops_sysvinit.py has the rest of the dispatch).
    fake.fact(Which, "/usr/bin/systemctl", command="systemctl").fact(SystemdRunning, False)
    for tool in ("rc-service", "initctl", "sv"):
        fake.fact(Which, None, command=tool)
    fake.fact(Os, "Linux")
    fake.fact(Which, "/usr/sbin/service", command="service")
    fake.fact(InitdStatus, {} if running is None else {"nginx": running})
    fake.fact(InitdLinks, links or [], service="nginx")
    fake.fact(LinuxDistribution, {"name": "Debian"})
    return fake


def test_sysv_start_and_noop(fake: FakeHost) -> None:
    _sysv(fake, False)
    assert run_op(fake, server.service, "nginx") == ["/etc/init.d/nginx start"]
    _sysv(fake, True)
    assert run_op(fake, server.service, "nginx") == []
    assert fake.noops == ["service nginx is running"]


def test_sysv_stop(fake: FakeHost) -> None:
    _sysv(fake, True)
    assert run_op(fake, server.service, "nginx", running=False) == ["/etc/init.d/nginx stop"]
    _sysv(fake, False)
    assert run_op(fake, server.service, "nginx", running=False) == []


def test_reload_and_restart_fire_only_when_already_running(fake: FakeHost) -> None:
    _sysv(fake, True)
    assert run_op(fake, server.service, "nginx", reloaded=True) == ["/etc/init.d/nginx reload"]
    assert run_op(fake, server.service, "nginx", restarted=True) == [
        "/etc/init.d/nginx restart"
    ]
    _sysv(fake, False)
    assert run_op(fake, server.service, "nginx", reloaded=True) == ["/etc/init.d/nginx start"]
    assert run_op(fake, server.service, "nginx", running=None, command="configtest") == [
        "/etc/init.d/nginx configtest"
    ]


def test_sysv_enable_and_disable(fake: FakeHost) -> None:
    _sysv(fake, True)
    assert run_op(fake, server.service, "nginx", enabled=True) == ["update-rc.d nginx defaults"]
    _sysv(fake, True, links=["/etc/rc2.d/S01nginx"])
    assert run_op(fake, server.service, "nginx", enabled=True) == []
    assert run_op(fake, server.service, "nginx", enabled=False) == ["rm -f /etc/rc2.d/S01nginx"]
    _sysv(fake, True)
    assert run_op(fake, server.service, "nginx", enabled=False) == []


def test_sysv_without_service_tool_uses_initd(fake: FakeHost) -> None:
    _sysv(fake, False)
    fake.fact(Which, None, command="systemctl").fact(Which, None, command="service")
    fake.fact(Link, None, path="/etc/init.d")
    fake.fact(Directory, {"mode": 755}, path="/etc/init.d")
    assert run_op(fake, server.service, "nginx") == ["/etc/init.d/nginx start"]


def test_systemd_when_running(fake: FakeHost) -> None:
    fake.fact(SystemdRunning, True).fact(Which, "/usr/bin/systemctl", command="systemctl")
    where = {"services": ["nginx.service"], "user_mode": False, "machine": None,
             "user_name": None}
    fake.fact(SystemdStatus, {"nginx.service": False}, **where)
    fake.fact(SystemdEnabled, {"nginx.service": False}, **where)
    assert run_op(fake, server.service, "nginx", enabled=True) == [
        "systemctl start nginx.service",
        "systemctl enable nginx.service",
    ]
    fake.fact(SystemdStatus, {"nginx.service": True}, **where)
    fake.fact(SystemdEnabled, {"nginx.service": True}, **where)
    assert run_op(fake, server.service, "nginx", enabled=True) == []
    assert run_op(fake, server.service, "nginx", reloaded=True) == [
        "systemctl reload nginx.service"
    ]


def test_no_init_system(fake: FakeHost) -> None:
    _sysv(fake, None)
    fake.fact(Which, None, command="service").fact(Link, None, path="/etc/init.d")
    fake.fact(Directory, None, path="/etc/init.d")
    with pytest.raises(OperationError, match="no init system"):
        run_op(fake, server.service, "nginx")


def test_service_name_is_validated(fake: FakeHost) -> None:
    _sysv(fake, None)
    with pytest.raises(OperationError, match="invalid service name"):
        run_op(fake, server.service, "nginx; reboot")


def test_group(fake: FakeHost) -> None:
    fake.fact(Groups, ["root", "adm"])
    assert run_op(fake, server.group, "web", system=True, gid=990) == ["groupadd -r -g 990 web"]
    assert run_op(fake, server.group, "adm") == []
    assert run_op(fake, server.group, "adm", present=False) == ["groupdel adm"]
    assert run_op(fake, server.group, "web", present=False) == []
    assert fake.noops == ["group adm exists", "group web does not exist"]
