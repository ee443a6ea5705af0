"""The metrics contract (docs/architecture.md): names, labels, types, zero series, info gauges."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.metrics import RUN_RESULTS, STAGES, TRIGGERS, HostOutcome, Metrics

# name (as exposed) -> (type, label names), straight from docs/architecture.md.
CONTRACT = {
    "pullinfra_build_info": ("gauge", {"version"}),
    "pullinfra_source_fetch_total": ("counter", {"result"}),
    "pullinfra_source_fetch_duration_seconds": ("histogram", set()),
    "pullinfra_source_last_fetch_success_timestamp_seconds": ("gauge", set()),
    "pullinfra_source_revision_info": ("gauge", {"revision"}),
    "pullinfra_source_verification_failures_total": ("counter", set()),
    "pullinfra_run_total": ("counter", {"deployment", "trigger", "result"}),
    "pullinfra_run_duration_seconds": ("histogram", {"deployment", "stage"}),
    "pullinfra_last_run_success_timestamp_seconds": ("gauge", {"deployment"}),
    "pullinfra_applied_revision_info": ("gauge", {"deployment", "revision"}),
    "pullinfra_run_in_progress": ("gauge", {"deployment"}),
    "pullinfra_deployment_suspended": ("gauge", {"deployment"}),
    "pullinfra_operations_total": ("counter", {"deployment", "status"}),
    "pullinfra_host_up": ("gauge", {"deployment", "host"}),
    "pullinfra_host_drift_operations": ("gauge", {"deployment", "host"}),
    "pullinfra_host_last_success_timestamp_seconds": ("gauge", {"deployment", "host"}),
    "pullinfra_notifications_total": ("counter", {"notifier", "result"}),
    "pullinfra_notification_queue_depth": ("gauge", set()),
    "pullinfra_webhook_requests_total": ("counter", {"provider", "result"}),
}
# Added beyond the contract (docs/architecture.md, "Metrics beyond the shared contract").
EXTENSIONS = {
    "pullinfra_host_operations": ("gauge", {"deployment", "host", "status"}),
    "pullinfra_http_rate_limited_total": ("counter", {"endpoint"}),
    "pullinfra_deployment_window_open": ("gauge", {"deployment"}),
    "pullinfra_rollout_halted": ("gauge", {"deployment"}),
    "pullinfra_rollout_waves_total": ("counter", {"deployment", "result"}),
}

SHA_A = "a" * 40
SHA_B = "b" * 40


def exposed(m: Metrics) -> dict[str, list]:
    """Exposed sample name -> samples, parsed from the real text exposition."""
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(m.exposition().decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def types(m: Metrics) -> dict[str, str]:
    text = m.exposition().decode()
    return {
        line.split()[2]: line.split()[3] for line in text.splitlines()
        if line.startswith("# TYPE ")
    }


def initialised() -> Metrics:
    m = Metrics(version="9.9.9")
    m.init_deployment("web")
    m.init_host("web", "web1")
    m.init_notifier("ops")
    for provider in ("github", "gitlab", "gitea"):
        m.init_webhook_provider(provider)
    m.set_source_revision(SHA_A)
    m.set_applied_revision("web", SHA_A)
    return m


def test_every_contract_metric_is_exposed_with_its_type_and_labels() -> None:
    m = initialised()
    samples = exposed(m)
    declared = types(m)
    for name, (kind, labels) in (CONTRACT | EXTENSIONS).items():
        assert declared.get(name) == kind, f"{name}: TYPE {declared.get(name)}, want {kind}"
        series = samples.get(name + "_count" if kind == "histogram" else name)
        assert series, f"{name} has no series"
        for sample in series:
            assert set(sample.labels) == labels, f"{name} labels {set(sample.labels)}"
    extra = set(declared) - set(CONTRACT) - set(EXTENSIONS)
    assert not extra, f"metrics outside the contract: {extra}"


def test_series_start_at_zero_for_known_label_values() -> None:
    m = initialised()
    samples = exposed(m)
    runs = {(s.labels["trigger"], s.labels["result"]): s.value
            for s in samples["pullinfra_run_total"]}
    assert runs == {(t, r): 0.0 for t in TRIGGERS for r in RUN_RESULTS}
    stages = {s.labels["stage"] for s in samples["pullinfra_run_duration_seconds_count"]}
    assert stages == set(STAGES)
    notif = {s.labels["result"]: s.value for s in samples["pullinfra_notifications_total"]}
    assert notif == {"success": 0.0, "retry": 0.0, "dropped": 0.0}
    hooks = {(s.labels["provider"], s.labels["result"]) for s in
             samples["pullinfra_webhook_requests_total"]}
    assert ("github", "unauthorized") in hooks and ("gitea", "accepted") in hooks
    assert [s.value for s in samples["pullinfra_deployment_suspended"]] == [0.0]
    assert [s.value for s in samples["pullinfra_run_in_progress"]] == [0.0]
    assert [s.value for s in samples["pullinfra_host_up"]] == [0.0]
    assert [s.value for s in samples["pullinfra_source_verification_failures_total"]] == [0.0]


def test_revision_info_keeps_exactly_one_series_per_deployment() -> None:
    m = initialised()
    m.set_applied_revision("db", SHA_A)
    m.set_applied_revision("web", SHA_B)
    m.set_source_revision(SHA_B)
    samples = exposed(m)
    applied = {(s.labels["deployment"], s.labels["revision"]): s.value
               for s in samples["pullinfra_applied_revision_info"]}
    assert applied == {("web", SHA_B): 1.0, ("db", SHA_A): 1.0}
    source = {s.labels["revision"]: s.value for s in samples["pullinfra_source_revision_info"]}
    assert source == {SHA_B: 1.0}
    m.set_applied_revision("web", SHA_B)  # same revision again: still one series
    assert len(exposed(m)["pullinfra_applied_revision_info"]) == 2


def test_observe_run_and_fetch_move_the_right_series() -> None:
    m = initialised()
    m.observe_fetch("success", 0.2, now=1_700_000_000.0)
    m.observe_fetch("failure", 3.0)
    m.count_verification_failure()
    with m.run_in_progress("web"):
        assert exposed(m)["pullinfra_run_in_progress"][0].value == 1.0
    m.observe_run(
        "web", "reconcile", "drift_corrected",
        stage_seconds={"setup": 0.1, "execute": 2.0},
        ops_by_status={"changed": 2, "no_change": 5},
        hosts=[HostOutcome("web1", up=True, drift_operations=2, succeeded_at=1_700_000_010.0),
               HostOutcome("web2", up=False)],
        finished_at=1_700_000_011.0,
    )
    s = exposed(m)

    def value(name: str, **labels: str) -> float:
        return next(x.value for x in s[name] if all(x.labels.get(k) == v
                                                     for k, v in labels.items()))

    assert value("pullinfra_source_fetch_total", result="success") == 1
    assert value("pullinfra_source_fetch_total", result="failure") == 1
    assert value("pullinfra_source_fetch_duration_seconds_count") == 2
    assert value("pullinfra_source_last_fetch_success_timestamp_seconds") == 1_700_000_000.0
    assert value("pullinfra_source_verification_failures_total") == 1
    assert value("pullinfra_run_in_progress", deployment="web") == 0
    assert value("pullinfra_run_total", trigger="reconcile", result="drift_corrected") == 1
    assert value("pullinfra_run_duration_seconds_count", stage="execute") == 1
    assert value("pullinfra_operations_total", status="no_change") == 5
    assert value("pullinfra_last_run_success_timestamp_seconds") == 1_700_000_011.0
    assert value("pullinfra_host_up", host="web1") == 1
    assert value("pullinfra_host_up", host="web2") == 0
    assert value("pullinfra_host_drift_operations", host="web1") == 2
    assert value("pullinfra_host_last_success_timestamp_seconds", host="web1") == 1_700_000_010.0
    # HostOutcome without operations leaves the per-host status gauges at their zero.
    assert value("pullinfra_host_operations", host="web1", status="changed") == 0


def test_a_failed_run_does_not_move_last_success() -> None:
    m = initialised()
    m.observe_run("web", "poll", "failed", {}, {"failed": 1}, finished_at=1_700_000_000.0)
    value = exposed(m)["pullinfra_last_run_success_timestamp_seconds"][0].value
    assert value == 0.0


def test_unknown_label_values_are_refused_not_turned_into_series() -> None:
    m = initialised()
    with pytest.raises(ValueError, match="trigger"):
        m.observe_run("web", "cron", "changed", {}, {})
    with pytest.raises(ValueError, match="fetch result"):
        m.observe_fetch("3f2a9c1", 1.0)
    with pytest.raises(ValueError, match="webhook provider"):
        m.count_webhook("bitbucket", "accepted")


def test_two_agents_in_one_process_do_not_share_series() -> None:
    a, b = Metrics(), Metrics()
    a.init_deployment("web")
    a.observe_run("web", "poll", "changed", {}, {"changed": 1})
    assert "pullinfra_run_total" not in exposed(b)
    assert exposed(a)["pullinfra_operations_total"]


def test_forget_host_removes_its_series() -> None:
    m = initialised()
    m.forget_host("web", "web1")
    assert "pullinfra_host_up" not in exposed(m)


def test_set_hosts_drops_the_series_of_hosts_that_left_the_inventory() -> None:
    m = Metrics()
    m.set_hosts("web", ["web1", "web2"])
    m.set_hosts("web", ["web2", "web3"])
    m.set_hosts("db", ["db1"])
    hosts = {(x.labels["deployment"], x.labels["host"]) for x in exposed(m)["pullinfra_host_up"]}
    assert hosts == {("web", "web2"), ("web", "web3"), ("db", "db1")}


def test_observe_report_takes_everything_from_a_change_report() -> None:
    from agent.report.model import ChangeReport
    from tests.agent.receivers import sample_report

    m = initialised()
    m.init_host("web", "web3")
    m.observe_report(ChangeReport.from_dict(sample_report(status="partial", trigger="reconcile")))
    s = exposed(m)

    def value(name: str, **labels: str) -> float:
        return next(x.value for x in s[name] if all(x.labels.get(k) == v
                                                     for k, v in labels.items()))

    assert value("pullinfra_run_total", trigger="reconcile", result="partial") == 1
    assert value("pullinfra_operations_total", status="changed") == 1
    assert value("pullinfra_operations_total", status="failed") == 1
    assert value("pullinfra_run_duration_seconds_count", stage="disconnect") == 1
    assert value("pullinfra_host_up", host="web3") == 1
    assert value("pullinfra_host_drift_operations", host="web1") == 1
    assert value("pullinfra_host_last_success_timestamp_seconds", host="web3") == 0
    assert value("pullinfra_host_last_success_timestamp_seconds", host="web2") > 0
    assert value("pullinfra_last_run_success_timestamp_seconds") == 0  # partial is no success
    per_host = {(x.labels["host"], x.labels["status"]): x.value
                for x in s["pullinfra_host_operations"] if x.value}
    assert per_host == {(h.name, op.status): sum(o.status == op.status for o in h.operations)
                        for h in ChangeReport.from_dict(sample_report()).hosts
                        for op in h.operations}


def test_contract_copy_matches_the_documented_contract() -> None:
    """CONTRACT says exactly what docs/architecture.md lists; and where the project's shared
    contract sits beside the checkout (as in CI), the repository's page agrees with it."""
    from tests.acceptance_agent.harness import ROOT, architecture_metrics

    documented = architecture_metrics()
    assert {name: set(labels) for name, labels in documented.items()} == {
        name: labels for name, (_, labels) in CONTRACT.items()}
    shared = ROOT.parent / "shared" / "ARCHITECTURE.md"
    if shared.is_file():
        assert architecture_metrics(shared) == documented


def test_metrics_beyond_the_contract_are_documented() -> None:
    from tests.acceptance_agent.harness import ARCH_METRIC, ARCHITECTURE

    section = ARCHITECTURE.read_text().split("### Metrics beyond the shared contract", 1)[1]
    section = section.split("###", 1)[0]
    documented = {m.group(1): set((m.group(2) or "").split(",")) for m in
                  ARCH_METRIC.finditer(section)}
    assert documented == {name: labels for name, (_, labels) in EXTENSIONS.items()}
