"""Acceptance 4 (a failing host stops alone) and 5 (bad deploy input gives file:line, exit 2)."""

from __future__ import annotations

import json
import threading

import pytest

from tests.acceptance.conftest import pullinfra
from tests.polling import wait_for

pytestmark = pytest.mark.bed

NAMES = ["web-01", "web-02", "web-03", "web-04", "web-05"]
VICTIM = "web-03"

# "wait here" blocks each host until the test says go (bounded, so nothing can hang).
STOP_ALONE = '''\
from pyinfra.operations import files, server

files.file(name="before", path="/tmp/before")
server.shell(
    name="wait here",
    commands=["touch /tmp/waiting; i=0; while [ ! -e /tmp/go ] && [ $i -lt 600 ]; "
              "do sleep 0.1; i=$((i+1)); done"],
)
files.file(name="after", path="/tmp/after")
files.directory(name="last", path="/tmp/last-dir")
'''


def _kill_sshd_and_sessions(host) -> None:
    """Kill the host's sshd listener and every per-connection sshd under it, by pid."""
    host.run('L=$(cat /run/sshd.pid); kill -9 $L $(pgrep -P "$L")', check=True)
    wait_for(lambda: not host.ssh_ready(), 60, "sshd to be gone", interval=0.05)


def test_host_whose_sshd_dies_mid_run_fails_alone_exit_1(bed_hosts, bed_inventory, write):
    hosts = dict(zip(NAMES, bed_hosts(5), strict=True))
    inventory = bed_inventory(hosts, groups={"web_servers": NAMES})
    deploy = write("deploy.py", STOP_ALONE)
    outcome = {}
    run = threading.Thread(
        target=lambda: outcome.setdefault("proc", pullinfra("apply", inventory, deploy, "--json")))
    run.start()
    try:
        wait_for(lambda: all(h.exists("/tmp/waiting") for h in hosts.values()), 60,
                 "every host to reach 'wait here'", interval=0.05)
        _kill_sshd_and_sessions(hosts[VICTIM])
    finally:
        for name, host in hosts.items():
            if name != VICTIM:
                host.write_file("/tmp/go", "")
        run.join(120)
    proc = outcome["proc"]

    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    by_host = {h["name"]: h for h in report["hosts"]}
    victim = by_host[VICTIM]
    assert victim["status"] == "failed"
    assert "connection" in victim["error"] and VICTIM in victim["error"]
    failed_op = victim["operations"][-1]
    assert failed_op["name"] == "wait here" and failed_op["status"] == "failed"
    assert "/tmp/go" in failed_op["commands"][0]
    assert [op["name"] for op in victim["operations"]] == ["before", "wait here"]
    # The console names host, operation and error too.
    assert f"[{VICTIM}] Error" in proc.stderr
    assert report["summary"]["hosts"]["failed"] == 1 and report["status"] == "partial"

    for name, host in hosts.items():
        assert host.exists("/tmp/before"), name
        if name == VICTIM:
            assert not host.exists("/tmp/after") and not host.exists("/tmp/last-dir")
            continue
        assert by_host[name]["status"] == "changed", by_host[name]["error"]
        assert [op["status"] for op in by_host[name]["operations"]] == ["changed"] * 4
        assert host.exists("/tmp/after"), name
        assert host.stat("/tmp/last-dir") is not None, name


MARKER_LINES = '''\
from pyinfra import facts, host, operations
operations.files.file(name="marker", path="/tmp/marker")
'''


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        pytest.param("if True\n    pass\n", "syntax error", id="syntax-error"),
        pytest.param("undefined_helper()\n", "NameError", id="name-error"),
        pytest.param("operations.apt.nonexistent(packages=['x'])\n", "apt.nonexistent",
                     id="unknown-operation"),
        pytest.param("from pyinfra.facts.server import Nope\n", "server.Nope",
                     id="unknown-fact-import"),
        pytest.param("host.get_fact(facts.server.Nope)\n", "server.Nope",
                     id="unknown-fact-get_fact"),
    ],
)
def test_bad_deploy_input_names_file_line_exit_2_and_touches_no_host(
    bad, match, bed_hosts, bed_inventory, write
):
    hosts = dict(zip(["web-01", "db-01"], bed_hosts(2), strict=True))
    inventory = bed_inventory(hosts, groups={"web": ["web-01"], "db": ["db-01"]})
    deploy = write("deploy.py", MARKER_LINES + bad)
    bad_line = MARKER_LINES.count("\n") + 1

    proc = pullinfra("apply", inventory, deploy)

    assert proc.returncode == 2, proc.stderr
    assert f"{deploy}:{bad_line}" in proc.stderr
    assert match in proc.stderr
    assert "Traceback" not in proc.stderr
    for name, host in hosts.items():
        assert not host.exists("/tmp/marker"), name
