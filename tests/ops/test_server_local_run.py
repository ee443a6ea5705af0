"""server operations run for real on @local through run_deploy.

A stand-in `service` tool (on PATH through `_env`) keeps its state in the test's directory,
so server.service's SysV path runs end to end without touching this machine's services.
"""

from __future__ import annotations

from pathlib import Path

from agent.compat import run_deploy
from agent.engine.result import RunResult

SERVICE_TOOL = """#!/bin/sh
state="{state}/$1.running"
case "$2" in
  status) test -f "$state" && exit 0 || exit 3 ;;
  start) touch "$state" ;;
  stop) rm -f "$state" ;;
  reload|restart) ;;
  *) exit 1 ;;
esac
echo "$1 $2" >> "{state}/log"
"""

DEPLOY = """
from pyinfra import host
from pyinfra.operations import server

env = {"PATH": host.data.bin + ":/usr/sbin:/usr/bin:/sbin:/bin"}
start = server.service(name="start demo", service="demo", _env=env)
server.service(
    name="reload demo", service="demo", reloaded=True, _if=start.did_change, _env=env
)
server.shell(name="shell", commands=[f"echo ran >> {host.data.state}/shell.log"])
"""


def _statuses(result: RunResult) -> dict[str, str]:
    assert not result.has_failures, [op.error for op in result.host("@local").operations]
    return {op.name: op.status for op in result.host("@local").operations}


def test_service_and_shell_on_local(tmp_path: Path) -> None:
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    tool = bin_dir / "service"
    tool.write_text(SERVICE_TOOL.format(state=state))
    tool.chmod(0o755)
    (tmp_path / "deploy.py").write_text(DEPLOY)
    inventory = tmp_path / "inventory.py"
    inventory.write_text(
        f"hosts = [('@local', {{'bin': {str(bin_dir)!r}, 'state': {str(state)!r}}})]\n"
    )
    deploy = [str(tmp_path / "deploy.py")]

    first = _statuses(run_deploy(str(inventory), deploy))
    assert first == {"start demo": "changed", "reload demo": "changed", "shell": "changed"}
    # The reload saw the live state left by the start before it.
    assert (state / "log").read_text() == "demo start\ndemo reload\n"

    second = _statuses(run_deploy(str(inventory), deploy))
    assert second == {"start demo": "no_change", "reload demo": "skipped", "shell": "changed"}
    assert (state / "log").read_text() == "demo start\ndemo reload\n"
    assert (state / "shell.log").read_text() == "ran\nran\n"
