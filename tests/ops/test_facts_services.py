"""Service facts: real shell runs, with a stand-in `service` tool on PATH where needed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.catalogue.facts.systemd import SystemdRunning, UnitActive, UnitEnabled
from agent.catalogue.facts.sysvinit import InitdStatus, ServiceStatus, StartLinks
from tests.ops.conftest import run_fact


def _path_with_service(tmp_path: Path, exit_code: int) -> dict[str, str]:
    tool = tmp_path / "service"
    tool.write_text(f'#!/bin/sh\n[ "$2" = status ] || exit 99\nexit {exit_code}\n')
    tool.chmod(0o755)
    return {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}


@pytest.mark.parametrize(
    ("code", "expected"), [(0, True), (1, False), (3, False), (4, None), (150, None)]
)
def test_service_status_reads_lsb_exit_codes(tmp_path: Path, code: int, expected: bool) -> None:
    env = _path_with_service(tmp_path, code)
    assert run_fact(ServiceStatus, env=env, service="nginx") is expected


def test_service_status_rejects_odd_names() -> None:
    with pytest.raises(ValueError):
        ServiceStatus().command(service="nginx; rm -rf /")


def test_unknown_service_is_not_running() -> None:
    assert run_fact(ServiceStatus, service="no-such-service-pullinfra") in (False, None)


def test_start_links_on_this_machine() -> None:
    assert run_fact(StartLinks, service="no-such-service-pullinfra") == []
    rc2 = Path("/etc/rc2.d")
    starts = sorted(rc2.glob("S[0-9][0-9]*")) if rc2.is_dir() else []
    if not starts:
        pytest.skip("no SysV start links here")
    name = starts[0].name[3:]
    links = run_fact(StartLinks, service=name)
    assert str(starts[0]) in links
    assert all(Path(link).name.endswith(name) for link in links)


def test_initd_status_parser() -> None:
    assert InitdStatus().process(["ssh=0", "cron=3", "weird=4", "noise"]) == {
        "ssh": True,
        "cron": False,
        "weird": None,
    }


def test_systemd_running_matches_run_dir() -> None:
    assert run_fact(SystemdRunning) is Path("/run/systemd/system").is_dir()


def test_unit_parsers() -> None:
    assert UnitActive().process(["active"]) is True
    assert UnitActive().process(["inactive"]) is False
    assert UnitEnabled().process(["enabled"]) is True
    assert UnitEnabled().process(["disabled"]) is False
    assert "nginx.service" in UnitActive().command(service="nginx")
    assert "foo.socket" in UnitEnabled().command(service="foo.socket")
