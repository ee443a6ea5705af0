"""Acceptance 2: with no new commit, a managed file changed on one host is found by the next
reconcile, corrected (apply) or only reported (detect), and reported for that host alone."""

from __future__ import annotations

import pytest

from tests.acceptance_agent.fleet import APP, app_state, conf, expected_state, tree
from tests.acceptance_agent.harness import (
    DEPLOYMENT,
    FINISHED,
    REPORT_SECRET,
    operations,
    report_of,
    signature_ok,
    wait_for,
)
from tests.agent.receivers import Received

TAMPERED = "# someone was here\n"
EXPECTED = {"apply": "drift_corrected", "detect": "drift_detected"}


def _drift_gauges(agent, hosts) -> dict[str, float | None]:
    scrape = agent.scrape()
    return {h.name: scrape.value("pullinfra_host_drift_operations", deployment=DEPLOYMENT,
                                 host=h.name) for h in hosts}


def _hosts_with_drift(report) -> set[str]:
    return {h["name"] for h in report["hosts"]
            if any(op["status"] != "no_change" for op in h["operations"])}


@pytest.mark.parametrize("mode", ["apply", "detect"])
def test_drift_on_one_host_is_found_by_reconcile_and_reported_for_that_host_alone(
        mode, remote, bed_hosts, receiver, make_agent):
    drifted, clean = hosts = bed_hosts(2)
    commit = remote.commit_and_push(tree(hosts), "A")
    agent = make_agent(url=remote.url, reconcile_interval="2s", reconcile_mode=mode,
                       notify_url=f"{receiver.url}/reports", notify_on=["drift"])
    agent.start()
    agent.wait_ready()
    assert agent.wait_finished(commit)["status"] == "changed", agent.describe()
    # A reconcile of an untouched fleet finds nothing.
    quiet = agent.wait_run("a reconcile that finds no drift",
                           lambda r: r["trigger"] == "reconcile" and r["status"] == "unchanged")
    assert quiet["revision"] == commit
    assert _drift_gauges(agent, hosts) == {drifted.name: 0, clean.name: 0}

    drifted.write_file(f"{APP}/a.conf", TAMPERED)

    # The per-host drift gauge shows the drift on that host only (scraped as soon as it shows:
    # in apply mode the next clean reconcile sets it back to 0).
    gauges = wait_for(lambda: (g := _drift_gauges(agent, hosts))[drifted.name] and g, 30,
                      "pullinfra_host_drift_operations > 0 for the drifted host",
                      interval=0.1, describe=agent.describe)
    assert gauges[drifted.name] >= 1 and gauges[clean.name] == 0, gauges

    run = agent.wait_run("a reconcile that found the drift",
                         lambda r: r["trigger"] == "reconcile" and r["id"] > quiet["id"]
                         and r["status"] in ("drift_corrected", "drift_detected"))
    assert run["status"] == EXPECTED[mode]
    assert run["revision"] == commit
    report = report_of(run)
    drifted_ops = operations(report, drifted.name)
    assert drifted_ops.pop("put a.conf") != "no_change"
    assert set(drifted_ops.values()) == {"no_change"}, drifted_ops
    # The clean host is either left out of the drift report or shows no drift.
    assert _hosts_with_drift(report) == {drifted.name}, report["hosts"]

    if mode == "apply":
        assert app_state(drifted) == expected_state()
        after = agent.wait_run("a clean reconcile after the correction",
                               lambda r: r["trigger"] == "reconcile" and r["id"] > run["id"]
                               and r["status"] in FINISHED)
        assert after["status"] == "unchanged"
    else:
        assert drifted.read_text(f"{APP}/a.conf") == TAMPERED
        again = agent.wait_run("the next reconcile",
                               lambda r: r["trigger"] == "reconcile" and r["id"] > run["id"]
                               and r["status"] in FINISHED)
        assert again["status"] == "drift_detected"  # still drifted: detect never corrects
        assert drifted.read_text(f"{APP}/a.conf") == TAMPERED
    assert app_state(clean) == expected_state()
    assert clean.read_text(f"{APP}/a.conf") == conf("a", "1")

    # The receiver gets the drift report, signed, naming the drifted host alone.
    def drift_reports() -> list[Received]:
        return [r for r in receiver.received() if r.json()["status"] == EXPECTED[mode]]
    sent = wait_for(drift_reports, 60, "the drift report at the receiver")[0]
    assert signature_ok(sent, REPORT_SECRET)
    body = sent.json()
    assert body["deployment"] == DEPLOYMENT and body["trigger"] == "reconcile"
    assert _hosts_with_drift(body) == {drifted.name}
