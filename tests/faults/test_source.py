"""Fault: the git remote goes away (its repository is renamed away, so every fetch fails)
and comes back with a commit pushed while it was gone."""

from __future__ import annotations

import pytest

from tests.acceptance_agent.fleet import app_state, expected_state, tree
from tests.acceptance_agent.harness import wait_for
from tests.agent.gitfixtures import git
from tests.faults.observe import all_final, assert_each_report_once

pytestmark = pytest.mark.xdist_group("faults-source")


def test_unreachable_remote_is_recorded_agent_stays_healthy_and_applies_on_return(
        remote, receiver, bed_hosts, make_agent):
    hosts = bed_hosts(1)
    agent = make_agent(url=remote.url, notify_url=f"{receiver.url}/reports")
    base = remote.commit_and_push(tree(hosts), "base")
    agent.start()
    agent.wait_ready()
    assert agent.wait_finished(base)["status"] == "changed", agent.describe()

    def failures() -> float:
        return agent.scrape().sum("pullinfra_source_fetch_total", result="failure")

    assert failures() == 0
    away = remote.bare.with_name("moved-away.git")
    remote.bare.rename(away)
    try:
        wait_for(lambda: failures() >= 3, 60, "three failed fetches", describe=agent.describe)
        assert agent.healthz() == 200, agent.describe()
        assert agent.get("/readyz")[0] == 200  # it fetched once; it keeps the last good head
        # A commit lands on the remote while the agent cannot reach it.
        commit = remote.commit(tree(hosts, {"a": "2"}), "pushed while unreachable")
        git("push", "--quiet", str(away), f"HEAD:refs/heads/{remote.branch}", cwd=remote.work)
        failed_so_far = failures()
        wait_for(lambda: failures() > failed_so_far, 60, "a fetch failing after the push",
                 describe=agent.describe)
        assert [r for r in agent.runs() if r["revision"] == commit] == []
    finally:
        away.rename(remote.bare)

    run = agent.wait_finished(commit, timeout=120)
    assert run["status"] == "changed", agent.describe()
    assert app_state(hosts[0]) == expected_state({"a": "2"})
    assert "fetch failed" in agent.log()
    scrape = agent.scrape()
    assert scrape.sum("pullinfra_source_fetch_total", result="success") >= 2
    print(f"fetch failures while unreachable: {failures():.0f}")

    runs = all_final(agent)
    assert [r["status"] for r in runs] == ["changed", "changed"], runs
    wait_for(lambda: len(receiver.received()) >= 2, 30, "both reports at the receiver")
    assert assert_each_report_once(runs, receiver) == 2
