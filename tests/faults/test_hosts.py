"""Faults on the managed hosts: sshd dies in the middle of an operation (and is back before
the next run), and a host's link is cut for 30 s. Each run records the host's failure with
its reason, the other hosts are not held up, and the next run brings the host to the commit.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.acceptance_agent.fleet import APP, app_state, expected_state, files_deploy, tree
from tests.acceptance_agent.harness import API_TOKEN, FINISHED, wait_for
from tests.faults.observe import all_final, assert_each_report_once, host_entry

LINK_CUT_SECONDS = 30  # the figure
SLOW_DEPLOY = files_deploy(extra=(
    'server.shell(name="slow step", commands=["sleep 3", '
    f'"touch {APP}/slow.done"])\n'
    f'files.line(name="after the slow step", path="{APP}/after", line="done")\n'))
FAILED_HOST = ("failed", "unreachable")


def _trigger(agent) -> None:
    status, _, body = agent.post("/api/trigger", json.dumps({}).encode(), {
        "Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"})
    assert status in (200, 202), (status, body)


def _kill_sshd_and_sessions(host) -> list[int]:
    """Stop the listener, then SIGKILL every sshd session process left on the host, by pid
    (inside the host's own PID namespace)."""
    host.stop_sshd()
    listed = host.run(["ps", "-C", "sshd", "-o", "pid="], check=False).stdout.split()
    pids = [int(p) for p in listed]
    for pid in pids:
        host.run(["kill", "-KILL", str(pid)], check=False)
    return pids


@pytest.mark.xdist_group("faults-sshd")
def test_sshd_dying_mid_operation_fails_the_host_and_next_run_applies(
        remote, receiver, bed_hosts, make_agent):
    host, = bed_hosts(1)
    agent = make_agent(url=remote.url, notify_url=f"{receiver.url}/reports",
                       shutdown_grace="30s")
    commit = remote.commit_and_push(tree([host], deploy=SLOW_DEPLOY), "slow deploy")
    agent.start()
    run = agent.wait_run("the slow run in progress",
                         lambda r: r["revision"] == commit and r["status"] == "running",
                         interval=0.1)
    wait_for(lambda: host.exists(f"{APP}/c.conf"), 30, "the uploads before the slow step",
             interval=0.05, describe=agent.describe)
    killed = _kill_sshd_and_sessions(host)
    assert killed, "no sshd session was running on the host"

    cut = agent.wait_run("the cut run finished", lambda r: r["id"] == run["id"]
                         and r["status"] in FINISHED, timeout=90)
    assert cut["status"] == "failed", agent.describe()
    entry = host_entry(cut, host.name)
    assert entry["status"] in FAILED_HOST, entry
    assert entry["error"], entry
    statuses = {op["name"]: op["status"] for op in entry["operations"]}
    assert statuses.get("after the slow step") in (None, "skipped"), statuses
    assert not host.exists(f"{APP}/after")
    assert agent.healthz() == 200
    # host_up says whether the host was reached in the run; this one was, before sshd died
    up = agent.scrape().value("pullinfra_host_up", deployment="app", host=host.name)
    assert up == (0 if entry["status"] == "unreachable" else 1), (up, entry)

    host.start_sshd()
    _trigger(agent)
    again = agent.wait_run("a completed run after sshd came back",
                           lambda r: r["id"] > run["id"] and r["status"] in FINISHED,
                           timeout=90)
    assert again["status"] == "changed", agent.describe()
    assert host_entry(again, host.name)["status"] == "changed"
    assert app_state(host) == expected_state()
    assert host.exists(f"{APP}/slow.done")
    assert host.read_text(f"{APP}/after") == "done\n"
    assert agent.scrape().value("pullinfra_host_up", deployment="app", host=host.name) == 1

    runs = all_final(agent)
    wait_for(lambda: len(receiver.received()) >= 2, 60, "both reports at the receiver",
             describe=agent.describe)
    assert assert_each_report_once(runs, receiver) == 2
    print(f"sshd killed ({len(killed)} processes); the cut run: {entry['status']}: "
          f"{entry['error']}")


@pytest.mark.xdist_group("faults-link")
def test_link_cut_30s_mid_run_marks_the_host_failed_others_apply_then_it_catches_up(
        remote, receiver, bed_hosts, make_agent):
    cut_host, healthy = bed_hosts(2)
    agent = make_agent(url=remote.url, notify_url=f"{receiver.url}/reports")
    base = remote.commit_and_push(tree([cut_host, healthy]), "base")
    agent.start()
    assert agent.wait_finished(base)["status"] == "changed", agent.describe()

    # The link goes down in the middle of a run's slow step; the runs that follow while it
    # is down cannot connect at all.
    commit = remote.commit_and_push(
        tree([cut_host, healthy], {"b": "2"}, deploy=SLOW_DEPLOY), "while cut")
    agent.wait_run("the slow run in progress",
                   lambda r: r["revision"] == commit and r["status"] == "running",
                   interval=0.1)
    wait_for(lambda: cut_host.exists(f"{APP}/b.conf") and "version = 2" in (
        cut_host.read_text(f"{APP}/b.conf") or ""), 30, "the uploads before the slow step",
        interval=0.05, describe=agent.describe)
    cut_host.cut_link()
    cut_at = time.monotonic()
    try:
        run = agent.wait_finished(commit, timeout=90)
        took = time.monotonic() - cut_at
        assert run["status"] == "partial", agent.describe()
        entry = host_entry(run, cut_host.name)
        assert entry["status"] in FAILED_HOST, entry
        assert entry["error"], entry
        assert host_entry(run, healthy.name)["status"] == "changed"
        assert app_state(healthy) == expected_state({"b": "2"})
        assert healthy.read_text(f"{APP}/after") == "done\n"
        assert agent.healthz() == 200
        retried = agent.wait_run("a run that cannot reach the cut host", lambda r: r["id"] >
                                 run["id"] and r["status"] in FINISHED, timeout=60)
        assert host_entry(retried, cut_host.name)["status"] == "unreachable", retried
        assert agent.scrape().value("pullinfra_host_up", deployment="app",
                                    host=cut_host.name) == 0
        time.sleep(max(0.0, LINK_CUT_SECONDS - (time.monotonic() - cut_at)))
    finally:
        cut_host.restore_link()
    down_for = time.monotonic() - cut_at
    restored = max(r["id"] for r in agent.runs())
    _trigger(agent)

    caught_up = agent.wait_run(
        "a run after the link came back that applies the cut host",
        lambda r: r["id"] > restored and r["status"] in FINISHED and r.get("report")
        and host_entry(r, cut_host.name)["status"] == "changed", timeout=90)
    assert caught_up["revision"] == commit
    assert app_state(cut_host) == expected_state({"b": "2"})
    assert cut_host.read_text(f"{APP}/after") == "done\n"
    assert agent.scrape().value("pullinfra_host_up", deployment="app", host=cut_host.name) == 1

    runs = all_final(agent)
    during = [r for r in runs if restored >= r["id"] >= run["id"]]
    assert {r["status"] for r in during} == {"partial"}, during
    wait_for(lambda: len(receiver.received()) >= len(runs), 60, "every report",
             describe=agent.describe)
    assert assert_each_report_once(runs, receiver) == len(runs)
    print(f"link down {down_for:.1f}s; the cut run ended {took:.1f}s after the cut "
          f"({entry['status']}: {entry['error']}); then {retried['status']} runs: "
          f"{host_entry(retried, cut_host.name)['error']}; runs while cut: {len(during)}")
