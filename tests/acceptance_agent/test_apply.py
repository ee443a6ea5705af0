"""Acceptance 1 and 9: a pushed commit is applied in time, an edit applies only itself, and
/metrics carries every metric of the contract in a format promtool accepts."""

from __future__ import annotations

import subprocess
import time

from tests.acceptance_agent.fleet import APP, app_state, expected_state, inventory, tree
from tests.acceptance_agent.harness import (
    DEPLOYMENT,
    Agent,
    architecture_metrics,
    operations,
    report_of,
)
from tests.agent.gitfixtures import Remote, remote_on_bed_host

POLL = 1.0
SLACK = 3.0  # fetch + scheduling on a loaded 2-core machine

BASE_DEPLOY = f'from pyinfra.operations import files\n\nfiles.directory(name="app dir", ' \
              f'path="{APP}")\n'


def _push_a_then_b(remote: Remote, agent: Agent, hosts) -> dict[str, float]:
    """The scenario of acceptance point 1, over whatever remote `remote` pushes to."""
    base = remote.commit_and_push(
        {"inventory.py": inventory(hosts), "deploy.py": BASE_DEPLOY}, "base: the app dir")
    agent.start()
    agent.wait_ready()
    agent.wait_finished(base)

    # Commit A: applied within the poll interval plus the run's own time.
    pushed_at = time.time()
    commit_a = remote.commit_and_push(tree(hosts), "A: deploy three config files")
    run_a = agent.wait_finished(commit_a, timeout=30)
    assert run_a["status"] == "changed", agent.describe()
    run_time = run_a["finished_at"] - run_a["started_at"]
    push_to_applied = run_a["finished_at"] - pushed_at
    assert push_to_applied <= POLL + run_time + SLACK, (
        f"pushed at {pushed_at:.2f}, applied at {run_a['finished_at']:.2f} "
        f"({push_to_applied:.2f}s; run took {run_time:.2f}s, poll interval {POLL}s)")
    for host in hosts:
        assert app_state(host) == expected_state(), host.name

    scrape = agent.scrape()
    applied = {s.labels["revision"]: s.value for s in
               scrape.matching("pullinfra_applied_revision_info", deployment=DEPLOYMENT)
               if s.value == 1}
    assert applied == {commit_a: 1}, applied
    assert scrape.sum("pullinfra_run_total", deployment=DEPLOYMENT, result="changed") >= 2
    assert scrape.sum("pullinfra_run_total", deployment=DEPLOYMENT, result="failed") == 0

    # Commit B changes only b.conf: only its operation changes, the other files stay as they
    # are (same content and same mtime: not rewritten).
    before = {h.name: {n: h.stat(f"{APP}/{n}.conf").st_mtime_ns for n in "ac"} for h in hosts}
    commit_b = remote.commit_and_push(tree(hosts, {"b": "2"}), "B: bump b.conf")
    run_b = agent.wait_finished(commit_b, timeout=30)
    assert run_b["status"] == "changed", agent.describe()
    assert run_b["previous_revision"] == commit_a
    report = report_of(run_b)
    assert report["source"]["revision"] == commit_b
    for host in hosts:
        ops = operations(report, host.name)
        assert {name for name, status in ops.items() if status == "changed"} == {"put b.conf"}
        assert {name: status for name, status in ops.items() if name != "put b.conf"} == {
            "app dir": "no_change", "put a.conf": "no_change", "put c.conf": "no_change"}
        assert app_state(host) == expected_state({"b": "2"}), host.name
        assert {n: host.stat(f"{APP}/{n}.conf").st_mtime_ns for n in "ac"} == before[host.name]
    assert agent.scrape().value("pullinfra_applied_revision_info", deployment=DEPLOYMENT,
                                revision=commit_b) == 1
    return {"push_to_applied": push_to_applied, "run_time": run_time}


def test_file_remote_commit_is_applied_within_poll_interval_and_b_applies_only_its_change(
        remote, bed_hosts, make_agent):
    hosts = bed_hosts(2)
    agent = make_agent(url=remote.url, poll_interval=f"{POLL:g}s")
    timings = _push_a_then_b(remote, agent, hosts)
    print(f"file:// push-to-applied {timings['push_to_applied']:.2f}s "
          f"(run {timings['run_time']:.2f}s)")


def test_ssh_remote_on_bed_host_is_applied_like_file_remote(
        tmp_path, bed_hosts, bed_client_key, bed_known_hosts, make_agent):
    git_host, target = bed_hosts(2)
    # The test pushes over SSH with the bed's key; the agent gets the same key from its config
    # (its environment carries no GIT_* variables, see harness.Agent).
    remote, url = remote_on_bed_host(tmp_path / "git", git_host)
    agent = make_agent(url=url, poll_interval=f"{POLL:g}s",
                       source={"ssh_key": str(bed_client_key),
                               "known_hosts": str(bed_known_hosts)})
    timings = _push_a_then_b(remote, agent, [target])
    print(f"ssh push-to-applied {timings['push_to_applied']:.2f}s "
          f"(run {timings['run_time']:.2f}s)")
    # The commits really travelled over SSH from the bed host's repository.
    assert git_host.run("git --git-dir=/srv/repo.git rev-parse main", check=True
                        ).stdout.strip() == remote.head()


def test_metrics_has_every_contract_metric_and_passes_promtool(
        remote, bed_hosts, receiver, make_agent):
    hosts = bed_hosts(1)
    commit = remote.commit_and_push(tree(hosts), "A")
    # A notifier is configured so that pullinfra_notifications_total{notifier} has series.
    agent = make_agent(url=remote.url, notify_url=f"{receiver.url}/reports").start()
    agent.wait_ready()
    assert agent.wait_finished(commit)["status"] == "changed"
    scrape = agent.scrape()

    contract = architecture_metrics()
    assert len(contract) >= 19, contract  # the list in docs/architecture.md, parsed
    missing, wrong_labels = [], {}
    for name, labels in contract.items():
        family = name.removesuffix("_total")
        family = scrape.families.get(family) or scrape.families.get(name)
        if family is None or not family.samples:
            missing.append(name)
            continue
        label_sets = {frozenset(k for k in s.labels if k not in ("le", "quantile"))
                      for s in family.samples}
        if frozenset(labels) not in label_sets:
            wrong_labels[name] = sorted(map(sorted, label_sets))
    assert not missing, f"missing from /metrics: {missing}"
    assert not wrong_labels, f"labels differ from docs/architecture.md: {wrong_labels}"

    # Series that alerts need exist for this deployment and host from the start.
    host = hosts[0].name
    for name in ("pullinfra_host_up", "pullinfra_host_drift_operations",
                 "pullinfra_host_last_success_timestamp_seconds"):
        assert scrape.value(name, deployment=DEPLOYMENT, host=host) is not None, name
    assert scrape.value("pullinfra_host_up", deployment=DEPLOYMENT, host=host) == 1
    assert scrape.value("pullinfra_run_in_progress", deployment=DEPLOYMENT) == 0
    assert scrape.value("pullinfra_deployment_suspended", deployment=DEPLOYMENT) == 0
    assert scrape.value("pullinfra_source_revision_info", revision=commit) == 1
    assert scrape.sum("pullinfra_source_fetch_total", result="success") >= 1
    assert scrape.value("pullinfra_source_last_fetch_success_timestamp_seconds") > 0

    assert scrape.value("pullinfra_notifications_total", notifier="receiver",
                        result="dropped") == 0

    promtool = subprocess.run(["/usr/bin/promtool", "check", "metrics"], input=scrape.text,
                              capture_output=True, text=True, timeout=60)
    assert promtool.returncode == 0, promtool.stdout + promtool.stderr

