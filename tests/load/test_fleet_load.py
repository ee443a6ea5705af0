"""Load: one real agent, 100 bed hosts, 30 commits pushed in bursts while webhooks fire.

What must hold (docs/architecture.md, the run lifecycle): runs of a deployment never overlap;
the last commit ends up on every host; every pushed commit is recorded once, as applied or as
superseded by a newer one; the receiver gets exactly one report for every run that ran; and
the agent's memory stays flat from run to run.

The commits come in 10 bursts of 3, each commit pushed and announced by a signed GitHub push
webhook at once. The next burst is pushed as soon as a run has finished since the last one,
so every burst lands on a busy or just-freed agent: webhooks arrive while a run is going,
most commits are overtaken before they run, and there are at least 10 runs to sample.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest

from agent.vocab import RunStatus
from tests.acceptance_agent.fleet import app_state, expected_state, tree
from tests.acceptance_agent.harness import REPORT_SECRET, Agent, github_push, signature_ok
from tests.agent.gitfixtures import Remote
from tests.agent.receivers import Receiver
from tests.load.observe import LogCounter, process_figures
from tests.polling import wait_for

pytestmark = pytest.mark.xdist_group("load")  # its own group: the 100 hosts in one bed

HOSTS = 100
BURSTS, PER_BURST = 10, 3
RUN_TIMEOUT = 240.0  # one run on 100 hosts; the first (everything new) is the slowest
APPLIED = RunStatus.CHANGED  # each commit changes a file on every host
SUPERSEDED = RunStatus.SUPERSEDED
# Memory: the largest RSS after the last third of the runs against the largest after the
# first third (about 6 runs apart). A healthy agent creeps by ~0.3 MiB a run at 100 hosts
# (allocator fragmentation: its Python heap grows by ~1.5 KiB a run, measured with
# tracemalloc), ~3 MiB between the thirds on a busy machine. A leak of 1 MiB a run, less than
# one run's per-host state (connections, facts, a 100-host report), adds 6 MiB more and fails.
RSS_SLACK_KIB = 8 * 1024


class RssSampler:
    """The agent's RSS right after each finished run (its `run finished` log line)."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.counter = LogCounter(agent.log_path)
        self.samples: list[tuple[int, int]] = []  # (runs finished, RSS KiB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def finished(self) -> int:
        return self.samples[-1][0] if self.samples else 0

    def _watch(self) -> None:
        while not self._stop.is_set() and self.agent.running():
            done = self.counter.finished()
            if done > self.finished():
                self.samples.append((done, process_figures(self.agent.pid)[0]))
            time.sleep(0.05)


def _push_burst(remote: Remote, agent: Agent, hosts: list, first: int, before: str
                ) -> list[str]:
    """PER_BURST commits, each pushed and announced at once; their SHAs."""
    pushed = []
    for version in range(first, first + PER_BURST):
        sha = remote.commit_and_push(tree(hosts, {"a": str(version)}), f"load: a = {version}")
        body, headers = github_push(remote.url, before, sha)
        status, _, answer = agent.post("/hooks/github", body, headers)
        assert 200 <= status < 300, f"webhook for {sha[:8]}: {status} {answer[:200]!r}"
        pushed.append(sha)
        before = sha
    return pushed


def test_100_hosts_30_pushes_under_webhooks(bed_hosts: Callable[[int], list], remote: Remote,
                                            receiver: Receiver, make_agent) -> None:
    t0 = time.monotonic()
    hosts = bed_hosts(HOSTS)
    bed_s = time.monotonic() - t0
    base = remote.commit_and_push(tree(hosts), "load: base")
    # An hour between polls: the webhooks alone bring the pushed commits in.
    agent = make_agent(url=remote.url, poll_interval="3600s", notify_url=receiver.url,
                       notify_on=("all",))
    agent.start()
    sampler = RssSampler(agent).start()
    try:
        agent.wait_ready(timeout=120)
        t1 = time.monotonic()
        wait_for(lambda: sampler.finished() >= 1, RUN_TIMEOUT, "the first run on 100 hosts",
                 describe=agent.log_tail)
        first_run_s = time.monotonic() - t1

        pushed: list[str] = []
        t2 = time.monotonic()
        for burst in range(BURSTS):
            seen = sampler.finished()
            pushed += _push_burst(remote, agent, hosts, 2 + burst * PER_BURST,
                                  pushed[-1] if pushed else base)
            if burst < BURSTS - 1:
                wait_for(lambda seen=seen: sampler.finished() > seen, RUN_TIMEOUT,
                         f"a run finished after burst {burst + 1}", describe=agent.log_tail)
        final = pushed[-1]

        def final_applied() -> list[dict] | None:
            runs = agent.history()
            ended = (APPLIED, RunStatus.FAILED, RunStatus.PARTIAL)
            return runs if any(r["revision"] == final and r["status"] in ended
                               for r in runs) else None

        runs = wait_for(final_applied, RUN_TIMEOUT, f"a run of the final commit {final[:8]}",
                        interval=1.0, describe=agent.log_tail)
        pushes_s = time.monotonic() - t2
        ran = [r for r in runs if r["status"] != SUPERSEDED]
        wait_for(lambda: len(receiver.received()) >= len(ran), 60,
                 f"{len(ran)} reports at the receiver")
        wait_for(lambda: sampler.finished() >= len(ran), 30, "an RSS sample of every run")
    finally:
        sampler.stop()
    time.sleep(1.0)  # a duplicate delivery would arrive about now
    runs = agent.history()
    ran = [r for r in runs if r["status"] != SUPERSEDED]
    rss = [kib for _, kib in sampler.samples]
    print(f"\nload: bed {HOSTS} hosts {bed_s:.1f}s, first run {first_run_s:.1f}s, "
          f"{len(pushed)} pushes to the final run {pushes_s:.1f}s; {len(ran)} runs, "
          f"{len(runs) - len(ran)} superseded; RSS MiB after each run: "
          f"{[round(k / 1024, 1) for k in rss]}")

    # Runs never overlap: each starts after the one before it finished.
    ran.sort(key=lambda r: r["started_at"])
    for before, after in itertools.pairwise(ran):
        assert before["finished_at"] <= after["started_at"], (
            f"run {after['id']} started before run {before['id']} finished: {before}, {after}")

    # The final commit is on every host, read directly.
    wrong = [h.name for h in hosts if app_state(h) != expected_state({"a": str(1 + len(pushed))})]
    assert not wrong, f"{len(wrong)} hosts lack the final commit's files: {wrong[:10]}"

    # Every commit recorded once, as applied or as superseded; nothing failed.
    by_revision: dict[str, list[str]] = {}
    for r in runs:
        by_revision.setdefault(r["revision"], []).append(r["status"])
    for sha in [base, *pushed]:
        assert by_revision.get(sha) in ([APPLIED], [SUPERSEDED]), (
            f"commit {sha[:8]} recorded as {by_revision.get(sha)}")
    assert by_revision[final] == [APPLIED]
    assert len(runs) == 1 + len(pushed), f"{len(runs)} runs for {1 + len(pushed)} commits"

    # One report, signed, for every run that ran: none lost, none twice.
    received = receiver.received()
    assert all(signature_ok(req, REPORT_SECRET) for req in received)
    got = Counter(str(req.json()["run_id"]) for req in received)
    assert got == Counter(str(r["id"]) for r in ran), (
        f"reports by run id {dict(got)}, runs {[r['id'] for r in ran]}")

    # Memory stays flat: the last third of the runs never exceeds the first third by a leak.
    assert len(rss) >= BURSTS, f"only {len(rss)} RSS samples"
    third = len(rss) // 3
    first_max, last_max = max(rss[:third]), max(rss[-third:])
    assert last_max <= first_max + RSS_SLACK_KIB, (
        f"RSS grew from {first_max / 1024:.1f} MiB (first {third} runs) to "
        f"{last_max / 1024:.1f} MiB (last {third}): {[round(k / 1024, 1) for k in rss]}")
