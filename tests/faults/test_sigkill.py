"""Fault: the agent is SIGKILLed at a random point of each of 20 runs (seeded: the seed is
printed, PULLINFRA_FAULT_SEED repeats a sequence) and started again at once.

"Runs twice by mistake", precisely: a run that completed (its row holds a final status other
than `interrupted`) must not run its commit again. A run cut by the kill is recorded
`interrupted` at the next start and its commit runs again, once. The host keeps the proof:
every execution of a commit's operation appends the commit's number to a counter file.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter

import pytest

from tests.acceptance_agent.fleet import inventory
from tests.acceptance_agent.harness import FINISHED, wait_for
from tests.faults.observe import accepted_reports, all_final, assert_each_report_once, resent

RUNS = 20
KILL_WITHIN = 3.0  # seconds after the push: before, during and after the run
COUNTER = "/srv/counter"


def _deploy(number: int) -> str:
    return ("from pyinfra.operations import server\n\n"
            f'server.shell(name="count", commands=["echo {number} >> {COUNTER}", "sleep 1"])\n')


@pytest.mark.xdist_group("faults-sigkill")
def test_sigkill_at_random_points_of_20_runs_loses_nothing_and_repeats_nothing(
        remote, receiver, bed_hosts, make_agent):
    seed = int(os.environ.get("PULLINFRA_FAULT_SEED") or random.SystemRandom().randrange(2**32))
    print(f"PULLINFRA_FAULT_SEED={seed}")
    rng = random.Random(seed)
    host, = bed_hosts(1)
    agent = make_agent(url=remote.url, notify_url=f"{receiver.url}/reports",
                       shutdown_grace="30s")
    revisions: list[str] = []
    delays: list[float] = []
    started = time.monotonic()
    agent.start()
    for number in range(1, RUNS + 1):
        revisions.append(remote.commit_and_push(
            {"inventory.py": inventory([host]), "deploy.py": _deploy(number)}, f"run {number}"))
        delay = rng.uniform(0, KILL_WITHIN)
        delays.append(delay)
        time.sleep(delay)
        agent.kill()
        agent.start()
        agent.wait_run(f"commit {number} completed after the kill",
                       lambda r, sha=revisions[-1]: r["revision"] == sha
                       and r["status"] in FINISHED - {"interrupted", "superseded"}, timeout=90)
    wait_for(lambda: agent.scrape().value("pullinfra_notification_queue_depth") == 0, 60,
             "an empty outbox", describe=agent.describe)
    assert agent.terminate() == 0
    took = time.monotonic() - started

    runs = all_final(agent)
    by_revision = {sha: [r for r in runs if r["revision"] == sha] for sha in revisions}
    lines = Counter((host.read_text(COUNTER) or "").split())
    interrupted = 0
    for number, sha in enumerate(revisions, start=1):
        statuses = Counter(r["status"] for r in by_revision[sha])
        completed = sum(n for status, n in statuses.items() if status != "interrupted")
        assert completed == 1, f"commit {number}: {statuses} (seed {seed})"
        assert statuses["changed"] == 1, f"commit {number}: {statuses} (seed {seed})"
        assert statuses["interrupted"] <= 1, f"commit {number}: {statuses} (seed {seed})"
        interrupted += statuses["interrupted"]
        # Executions on the host: the completed run's, plus one per interrupted run that had
        # reached the operation; never more than the runs recorded.
        assert 1 <= lines[str(number)] <= statuses["changed"] + statuses["interrupted"], (
            f"commit {number}: {lines[str(number)]} executions, runs {statuses} (seed {seed})")
    assert set(lines) == {str(n) for n in range(1, RUNS + 1)}, lines

    delivered = assert_each_report_once(runs, receiver)
    assert delivered == RUNS, (delivered, seed)
    assert [r["source"]["revision"] for r in accepted_reports(receiver)] == revisions
    print(f"{RUNS} runs, each killed {min(delays):.2f}-{max(delays):.2f}s after its push: "
          f"{interrupted} interrupted and re-run once, {len(runs)} run rows, "
          f"{sum(lines.values())} executions on the host, {delivered} reports "
          f"({resent(receiver)} resends of a delivery), {agent.starts} agent starts, "
          f"{took:.0f}s")
