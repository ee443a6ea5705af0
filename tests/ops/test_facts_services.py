"""Service facts run for real in this machine's shell (the bed and differential tests read
them on hosts, tests/differential/test_facts.py beside real pyinfra's)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.catalogue.facts.systemd import SystemdRunning
from agent.catalogue.facts.sysvinit import InitdLinks, InitdStatus
from tests.ops.conftest import run_fact


def test_initd_links_on_this_machine() -> None:
    assert run_fact(InitdLinks, service="no-such-service-pullinfra") == []
    rc2 = Path("/etc/rc2.d")
    starts = sorted(rc2.glob("S[0-9][0-9]*")) if rc2.is_dir() else []
    if not starts:
        pytest.skip("no SysV start links here")
    name = starts[0].name[3:]
    links = run_fact(InitdLinks, service=name)
    assert str(starts[0]) in links
    assert all(Path(link).name[3:] == name for link in links)


def test_initd_links_refuse_odd_names() -> None:
    with pytest.raises(ValueError):
        InitdLinks().command(service="nginx; rm -rf /")


def test_initd_status_parser() -> None:
    assert InitdStatus().process(["ssh=0", "cron=3", "weird=4", "noise"]) == {
        "ssh": True,
        "cron": False,
        "weird": None,
    }


def test_systemd_running_matches_run_dir() -> None:
    assert run_fact(SystemdRunning) is Path("/run/systemd/system").is_dir()
