"""Acceptance 3 and 4: a broken deploy fails cleanly and touches nothing; a force-push is
refused and never applied."""

from __future__ import annotations

import json

from tests.acceptance_agent.fleet import (
    APP,
    CONF_NAMES,
    app_state,
    expected_state,
    files_deploy,
    tree,
)
from tests.acceptance_agent.harness import (
    DEPLOYMENT,
    REPORT_SECRET,
    report_of,
    signature_ok,
    wait_for,
)


def _mtimes(hosts) -> dict[str, dict[str, int]]:
    return {h.name: {n: h.stat(f"{APP}/{n}.conf").st_mtime_ns for n in CONF_NAMES}
            for h in hosts}


def test_syntax_error_fails_run_with_file_line_touches_no_host_and_next_good_commit_applies(
        remote, bed_hosts, receiver, make_agent):
    hosts = bed_hosts(2)
    good = remote.commit_and_push(tree(hosts), "A: good")
    agent = make_agent(url=remote.url, notify_url=f"{receiver.url}/reports",
                       notify_on=["changed", "failed"])
    agent.start()
    agent.wait_ready()
    assert agent.wait_finished(good)["status"] == "changed", agent.describe()
    before = _mtimes(hosts)

    # B changes b.conf (so an applied B would show) and breaks deploy.py at a known line.
    error_line = files_deploy().count("\n") + 1
    broken_deploy = files_deploy(extra="settings = = 1\n")
    assert broken_deploy.splitlines()[error_line - 1] == "settings = = 1"
    broken = remote.commit_and_push(tree(hosts, {"b": "2"}, deploy=broken_deploy),
                                    "B: broken deploy")
    run = agent.wait_finished(broken)
    assert run["status"] == "failed", agent.describe()
    where = f"deploy.py:{error_line}"
    assert where in json.dumps(report_of(run)), report_of(run)

    def failed_report():
        for request in receiver.received():
            body = request.json()
            if body["source"]["revision"] == broken:
                return request
        return None
    sent = wait_for(failed_report, 60, "the failed run's report at the receiver",
                    describe=agent.describe)
    assert signature_ok(sent, REPORT_SECRET)
    assert sent.json()["status"] == "failed"
    assert where in sent.body.decode(), sent.body.decode()

    # No host was touched, the agent is alive and healthy, the last good commit stays applied.
    for host in hosts:
        assert app_state(host) == expected_state(), host.name
    assert _mtimes(hosts) == before
    assert agent.running()
    assert agent.healthz() == 200
    scrape = agent.scrape()
    assert scrape.sum("pullinfra_run_total", deployment=DEPLOYMENT, result="failed") >= 1
    assert scrape.value("pullinfra_applied_revision_info", deployment=DEPLOYMENT,
                        revision=good) == 1

    # The next good commit (the same change, deploy fixed) applies.
    fixed = remote.commit_and_push(tree(hosts, {"b": "2"}), "C: fix the deploy")
    run = agent.wait_finished(fixed)
    assert run["status"] == "changed", agent.describe()
    for host in hosts:
        assert app_state(host) == expected_state({"b": "2"}), host.name
    assert agent.scrape().value("pullinfra_applied_revision_info", deployment=DEPLOYMENT,
                                revision=fixed) == 1


def test_force_pushed_branch_is_refused_reported_and_not_applied(
        remote, bed_hosts, receiver, make_agent):
    hosts = bed_hosts(1)
    first = remote.commit_and_push(tree(hosts), "A")
    agent = make_agent(url=remote.url, notify_url=f"{receiver.url}/reports",
                       notify_on=["all"])
    agent.start()
    agent.wait_ready()
    agent.wait_finished(first)
    second = remote.commit_and_push(tree(hosts, {"a": "2"}), "B")
    assert agent.wait_finished(second)["status"] == "changed", agent.describe()
    rejected_before = agent.scrape().sum("pullinfra_source_fetch_total", result="rejected")

    # Rewrite history: drop B, and push a commit that would change c.conf, with --force.
    remote.rewrite_to(first)
    rewritten = remote.commit(tree(hosts, {"c": "666"}), "rewritten history")
    remote.push(force=True)

    # Refused on two fetches in a row (so it is not a one-off), which shows on /metrics.
    wait_for(lambda: agent.scrape().sum("pullinfra_source_fetch_total", result="rejected")
             >= rejected_before + 2, 30, "two refused (rejected) fetches after the force-push",
             describe=agent.describe)

    # Reported: the receiver gets a failed report for the refused head, saying why.
    def refusal():
        return next((r for r in receiver.received()
                     if r.json()["source"]["revision"] == rewritten), None)
    sent = wait_for(refusal, 60, "a report of the refused head", describe=agent.describe)
    assert signature_ok(sent, REPORT_SECRET)
    assert sent.json()["status"] == "failed"
    assert "force" in sent.body.decode() or "fast-forward" in sent.body.decode(), sent.body

    # Not applied: any run recorded for the refused head failed (it is the refusal itself),
    # the applied revision is still B and the host still has B's files.
    assert {r["status"] for r in agent.runs() if r["revision"] == rewritten} <= {"failed"}
    scrape = agent.scrape()
    assert scrape.value("pullinfra_applied_revision_info", deployment=DEPLOYMENT,
                        revision=second) == 1
    assert scrape.value("pullinfra_applied_revision_info", deployment=DEPLOYMENT,
                        revision=rewritten) in (None, 0)
    assert app_state(hosts[0]) == expected_state({"a": "2"})
    assert agent.running() and agent.healthz() == 200
