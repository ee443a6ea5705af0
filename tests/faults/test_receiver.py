"""Fault: the report receiver answers 500, then accepts connections and never answers, then
recovers. Reports wait in the outbox (in the state DB), are retried, and arrive once each,
in order; a hanging receiver holds up neither the runs nor the agent's health."""

from __future__ import annotations

import pytest

from tests.acceptance_agent.fleet import tree
from tests.acceptance_agent.harness import wait_for
from tests.faults.observe import accepted_reports, all_final, assert_each_report_once, resent

pytestmark = pytest.mark.xdist_group("faults-receiver")

DELIVERY_TIMEOUT = 120  # the outbox backs off 5 s, 10 s, 20 s, ... (agent/report/outbox.py)


def test_receiver_500_then_hanging_loses_no_report_and_blocks_no_run(
        remote, receiver, bed_hosts, make_agent):
    hosts = bed_hosts(1)
    receiver.status = 500
    agent = make_agent(url=remote.url, notify_url=f"{receiver.url}/reports")
    revisions = [remote.commit_and_push(tree(hosts), "base")]
    agent.start()
    agent.wait_ready()
    assert agent.wait_finished(revisions[0])["status"] == "changed"

    def retries() -> float:
        return agent.scrape().sum("pullinfra_notifications_total", notifier="receiver",
                                  result="retry")

    # 500: the head of the queue is retried, the reports behind it wait.
    revisions.append(remote.commit_and_push(tree(hosts, {"a": "2"}), "during 500"))
    assert agent.wait_finished(revisions[-1])["status"] == "changed"
    wait_for(lambda: retries() >= 2, 60, "two answered-500 deliveries", describe=agent.describe)
    answered_500 = sum(1 for r in receiver.received() if r.answered == 500)
    assert answered_500 >= 2

    # Hanging: the sender's timeout (2 s here) ends each attempt; runs go on meanwhile.
    receiver.hang()
    wait_for(lambda: receiver.hung >= 1, 60, "a delivery attempt held by the receiver",
             describe=agent.describe)
    for version in ("3", "4"):
        revisions.append(remote.commit_and_push(tree(hosts, {"a": version}), f"hang {version}"))
        assert agent.wait_finished(revisions[-1], timeout=60)["status"] == "changed", \
            agent.describe()
    assert agent.healthz() == 200, agent.describe()
    wait_for(lambda: retries() >= 3, 60, "a timed-out delivery counted as a retry",
             describe=agent.describe)
    depth = agent.scrape().value("pullinfra_notification_queue_depth")
    assert depth == len(revisions), (depth, agent.describe())
    assert accepted_reports(receiver) == []

    receiver.status = 200
    receiver.unhang()
    wait_for(lambda: len(accepted_reports(receiver)) >= len(revisions), DELIVERY_TIMEOUT,
             "every held report at the receiver", describe=agent.describe)
    wait_for(lambda: agent.scrape().value("pullinfra_notification_queue_depth") == 0, 30,
             "an empty outbox")

    runs = all_final(agent)
    delivered = assert_each_report_once(runs, receiver)
    assert [r["source"]["revision"] for r in accepted_reports(receiver)] == revisions
    assert agent.scrape().sum("pullinfra_notifications_total", notifier="receiver",
                              result="dropped") == 0
    print(f"reports: {delivered} delivered once each after {answered_500} answers of 500, "
          f"{receiver.hung} held connections, {retries():.0f} retries, {resent(receiver)} "
          f"resends of one delivery")
