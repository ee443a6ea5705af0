"""Acceptance 5: reports of runs made while the receiver is down all arrive once it is back,
in order and validly signed, also when the agent was restarted in between."""

from __future__ import annotations

from tests.acceptance_agent.fleet import tree
from tests.acceptance_agent.harness import REPORT_SECRET, signature_ok, wait_for
from tests.agent.receivers import Receiver

DELIVERY_TIMEOUT = 120  # the outbox backs off exponentially (5 s, 10 s, 20 s, ...)


def test_reports_held_while_receiver_down_arrive_in_order_signed_also_across_restart(
        remote, bed_hosts, make_agent):
    hosts = bed_hosts(1)
    receiver = Receiver().start()
    receiver.stop()  # down from the start; it comes back on the same port
    try:
        agent = make_agent(url=remote.url, notify_url=f"{receiver.url}/reports",
                           notify_on=["changed", "failed", "drift"])
        base = remote.commit_and_push(tree(hosts), "base")
        agent.start()
        agent.wait_ready()
        agent.wait_finished(base)

        def three_runs(phase: str) -> list[str]:
            revisions = []
            for i in range(1, 4):
                sha = remote.commit_and_push(tree(hosts, {"a": f"{phase}{i}"}),
                                             f"{phase}: commit {i}")
                assert agent.wait_finished(sha)["status"] == "changed", agent.describe()
                revisions.append(sha)
            return revisions

        def delivered() -> list[str]:
            return [r.json()["source"]["revision"] for r in receiver.received()]

        def queued_at_least(n: int) -> bool:
            return (agent.scrape().value("pullinfra_notification_queue_depth") or 0) >= n

        # Phase 1: three runs while the receiver is down; it comes back, the agent runs on.
        phase1 = three_runs("p1")
        wait_for(lambda: queued_at_least(3), 30, "3+ reports queued", describe=agent.describe)
        assert agent.scrape().sum("pullinfra_notifications_total", notifier="receiver",
                                  result="retry") >= 1
        assert receiver.received() == []
        receiver.start()
        wait_for(lambda: set(phase1) <= set(delivered()), DELIVERY_TIMEOUT,
                 "phase 1's three reports at the receiver", describe=agent.describe)

        # Phase 2: down again for three runs; the agent is stopped while the receiver is still
        # down and restarted once it is back.
        receiver.stop()
        phase2 = three_runs("p2")
        wait_for(lambda: queued_at_least(3), 30, "3+ reports queued", describe=agent.describe)
        assert agent.terminate() == 0
        receiver.start()
        agent.start()
        wait_for(lambda: set(phase2) <= set(delivered()), DELIVERY_TIMEOUT,
                 "phase 2's three reports at the receiver after the restart",
                 describe=agent.describe)
        wait_for(lambda: agent.scrape().value("pullinfra_notification_queue_depth") == 0, 30,
                 "an empty outbox")
    finally:
        receiver.stop()

    received = receiver.received()
    for request in received:
        assert signature_ok(request, REPORT_SECRET), request.headers
    reports = [r.json() for r in received]
    revisions = [r["source"]["revision"] for r in reports]
    ours = [rev for rev in revisions if rev in phase1 + phase2]
    assert ours == phase1 + phase2, (phase1, phase2, revisions)  # each once, in order
    run_ids = [int(r["run_id"]) for r in reports]
    assert run_ids == sorted(set(run_ids)), run_ids  # the whole stream in run order, no repeats
    assert {r["status"] for r in reports} == {"changed"}
