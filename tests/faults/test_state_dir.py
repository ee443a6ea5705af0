"""Fault: the state directory fills up (a small tmpfs as the state dir, filled by a file)
while a run is in its slow step. The agent says why (/healthz, its log), records nothing
half-way, keeps running; once space is freed the next run works and the DB is intact."""

from __future__ import annotations

import errno
import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.acceptance_agent.fleet import APP, app_state, expected_state, files_deploy, tree
from tests.acceptance_agent.harness import API_TOKEN, wait_for
from tests.faults.observe import all_final, assert_each_report_once

TMPFS_SIZE = "8m"
SLOW_DEPLOY = files_deploy(extra=(
    'server.shell(name="slow step", commands=["sleep 2", '
    f'"touch {APP}/slow.done"])\n'))


def _fill(directory: Path) -> list[Path]:
    """Files that take every free byte of `directory`'s filesystem (big writes, then small)."""
    made = []
    for name, chunk in (("filler-big", 1 << 16), ("filler-small", 512)):
        path = directory / name
        made.append(path)
        with open(path, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    return made


def _free(directory: Path) -> int:
    done = subprocess.run(["df", "--output=avail", "-B1", str(directory)],
                          capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1])


@pytest.mark.xdist_group("faults-state-dir")
def test_full_state_dir_fails_clearly_and_recovers_intact(
        remote, receiver, bed_hosts, make_agent):
    host, = bed_hosts(1)
    agent = make_agent(url=remote.url, notify_url=f"{receiver.url}/reports")
    state = Path(agent.config["state"]["dir"])
    state.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0700", "tmpfs",
                    str(state)], check=True)
    try:
        base = remote.commit_and_push(tree([host]), "base")
        agent.start()
        agent.wait_ready()
        assert agent.wait_finished(base)["status"] == "changed", agent.describe()

        # The state dir fills up while a run is in its slow step.
        slow = remote.commit_and_push(tree([host], deploy=SLOW_DEPLOY), "slow")
        agent.wait_run("the slow run in progress",
                       lambda r: r["revision"] == slow and r["status"] == "running",
                       interval=0.1)
        wait_for(lambda: host.exists(f"{APP}/c.conf"), 30, "the uploads before the slow step",
                 interval=0.05, describe=agent.describe)
        fillers = _fill(state)
        assert _free(state) == 0
        wait_for(lambda: host.exists(f"{APP}/slow.done"), 30, "the slow step's end",
                 describe=agent.describe)
        status, _, body = agent.post("/api/trigger", json.dumps({}).encode(), {
            "Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"})
        assert status == 202, (status, body)
        wait_for(lambda: agent.healthz() == 503, 60, "/healthz 503 while the state dir is full",
                 describe=agent.describe)
        health = agent.get("/healthz")[2].decode()
        assert "database or disk is full" in health, health
        assert "cannot be written" in agent.log() or "No space left" in agent.log()
        assert "Traceback" not in agent.log(), agent.log_tail()
        commit = remote.commit_and_push(tree([host], {"a": "2"}), "while full")

        held = "run ended but not recorded yet" in agent.log()
        if held:  # the slow run could not be recorded: it waits, it is not lost
            assert next(r for r in agent.runs() if r["revision"] == slow)["status"] == "running"
        for path in fillers:
            path.unlink()
        wait_for(lambda: agent.healthz() == 200, 60, "/healthz 200 once space is freed",
                 describe=agent.describe)
        run = agent.wait_finished(commit, timeout=120)
        assert run["status"] == "changed", agent.describe()
        assert app_state(host) == expected_state({"a": "2"})
        runs = all_final(agent)
        wait_for(lambda: len(receiver.received()) >= 3, 60, "the reports")
        reported = assert_each_report_once(runs, receiver)
        slow_run, = [r for r in runs if r["revision"] == slow]
        assert slow_run["status"] == "changed", runs
        print(f"runs: {[(r['id'], r['revision'][:8], r['status']) for r in runs]}; "
              f"reports: {reported}; the slow run's ending waited for space: {held}")
    finally:
        agent.cleanup()
        subprocess.run(["umount", str(state)], check=False)

    with sqlite3.connect(state / "state.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
