"""Round trips on a real host (engine/pipeline.py, prefetch.py, connectors/shell.py).

A connector that counts what it sends runs a deploy of twelve operations on a bed host over
SSH. On a host with nothing to change, every fact is read in the few rounds of the prefetch
at prepare, and execute sends nothing; on a fresh host each operation costs one round trip,
its commands and the next operation's reads together; and every command runs through the
long-lived shell, none on a channel of its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.compat import run_deploy
from agent.engine.connectors.ssh import SSHConnector
from agent.engine.events import StageStarted
from agent.engine.run import RunOptions
from agent.vocab import OpStatus, Stage

pytestmark = pytest.mark.bed

DEPLOY = """\
from pyinfra.operations import files, server
files.directory(name="base", path="/srv/rt", mode="755")
for sub in ("a", "b", "c"):
    files.directory(name=f"dir {sub}", path=f"/srv/rt/{sub}")
conf = files.put(name="conf", src="files/app.conf", dest="/srv/rt/a/app.conf", mode="640")
files.template(name="tmpl", src="files/app.j2", dest="/srv/rt/b/app.ini", port=8080)
for i in range(3):
    files.line(name=f"line {i}", path="/srv/rt/c/settings", line=f"key{i}=v{i}")
files.file(name="marker", path="/srv/rt/marker", mode="600")
server.user(name="user", user="rtuser", shell="/bin/sh")
server.shell(name="reload", commands=["echo reloaded >> /srv/rt/reloads"], _if=conf.did_change)
"""
OPERATIONS = 12


class CountingSSH(SSHConnector):
    """Counts round trips through the long-lived shell, and commands on their own channel."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.batches: list[tuple[str, int]] = []
        self.alone = 0
        self.phase = ""

    def run_batch(self, requests, stop_after_failure):
        self.batches.append((self.phase, len(requests)))
        return super().run_batch(requests, stop_after_failure)

    def _run_on_channel(self, command, args):
        self.alone += 1
        return super()._run_on_channel(command, args)


def _deploy(tmp_path: Path) -> Path:
    files = tmp_path / "files"
    files.mkdir()
    (files / "app.conf").write_text("listen=1\n")
    (files / "app.j2").write_text("port={{ port }}\n")
    deploy = tmp_path / "deploy.py"
    deploy.write_text(DEPLOY)
    return deploy


def _run(inventory: Path, deploy: Path, connectors: list[CountingSSH]):
    def factory(spec):
        connector = CountingSSH(spec.name, spec.data)
        connectors.append(connector)
        return connector

    def on_event(event):
        if isinstance(event, StageStarted):
            for connector in connectors:
                connector.phase = event.stage

    result = run_deploy(
        str(inventory), [str(deploy)],
        RunOptions(connector_factory=factory, project_root=deploy.parent), on_event,
    )
    assert result.aborted is None
    return result


def test_an_unchanged_host_is_read_in_a_few_round_trips_and_execute_sends_nothing(
    bed_host, bed_inventory, tmp_path
):
    deploy = _deploy(tmp_path)
    inventory = bed_inventory([bed_host])
    first: list[CountingSSH] = []
    result = _run(inventory, deploy, first)
    (connector,) = first
    statuses = [op.status for op in result.hosts[0].operations]
    assert statuses == [OpStatus.CHANGED] * OPERATIONS
    # One round trip per operation on a fresh host: its commands go with the next one's
    # reads. server.user has a second: it reads the new account's home only after useradd.
    execute_trips = [n for phase, n in connector.batches if phase == Stage.EXECUTE]
    assert len(execute_trips) <= OPERATIONS + 1
    assert connector.alone == 0

    again: list[CountingSSH] = []
    result = _run(inventory, deploy, again)
    (connector,) = again
    statuses = [op.status for op in result.hosts[0].operations]
    assert statuses == [OpStatus.NO_CHANGE] * (OPERATIONS - 1) + [OpStatus.SKIPPED]
    prepare_trips = [n for phase, n in connector.batches if phase == Stage.PREPARE]
    assert 1 <= len(prepare_trips) <= 3
    assert sum(prepare_trips) >= OPERATIONS - 1  # the reads of every operation, in bulk
    assert [n for phase, n in connector.batches if phase == Stage.EXECUTE] == []
    assert connector.alone == 0


def test_a_timeout_runs_on_a_channel_of_its_own_and_still_times_out(
    bed_host, bed_inventory, tmp_path
):
    deploy = tmp_path / "deploy.py"
    deploy.write_text(
        "from pyinfra.operations import server\n"
        "server.shell(name='slow', commands=['sleep 5'], _timeout=0.5)\n"
        "server.shell(name='after', commands=['true'], _ignore_errors=True)\n"
    )
    connectors: list[CountingSSH] = []
    result = _run(bed_inventory([bed_host]), deploy, connectors)
    slow = result.hosts[0].operations[0]
    assert slow.status == OpStatus.FAILED
    assert "timed out" in (slow.error or "")
    assert connectors[0].alone == 1
