"""The alert rules (promtool: syntax, and a unit test for each alert), a real Prometheus
scraping a running agent and answering for its series, and the dashboard's queries naming
only metrics the agent exposes."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.agent.process import AgentProcess
from tests.agent.receivers import Receiver, http
from tests.daemon.helpers import Fleet, env
from tests.monitoring.prometheus import Prometheus, tool
from tests.polling import wait_for

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "monitoring"
ALERTS = MONITORING / "alerts.yaml"
ALERT_TESTS = MONITORING / "alerts.test.yaml"
DASHBOARD = MONITORING / "dashboard.json"
HISTOGRAM_SERIES = re.compile(r"_(bucket|sum|count)$")
METRIC = re.compile(r"\bpullinfra_[a-z_]+")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("promtool"), *args], capture_output=True, text=True,
                          timeout=120, cwd=MONITORING)


def alert_rules() -> list[dict]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"]
            for rule in group["rules"] if "alert" in rule]


def dashboard_exprs() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


def dashboard_variable_queries() -> list[str]:
    variables = json.loads(DASHBOARD.read_text())["templating"]["list"]
    return [v["definition"] for v in variables if v["type"] == "query"]


def test_the_rules_are_valid_and_every_alert_passes_its_unit_tests():
    checked = promtool("check", "rules", ALERTS.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in checked.stdout
    tested = promtool("test", "rules", ALERT_TESTS.name)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_alert_has_a_unit_test_where_it_fires():
    tests = yaml.safe_load(ALERT_TESTS.read_text())["tests"]
    firing = {case["alertname"] for test in tests for case in test["alert_rule_test"]
              if case["exp_alerts"]}
    quiet = {case["alertname"] for test in tests for case in test["alert_rule_test"]
             if not case["exp_alerts"]}
    names = {rule["alert"] for rule in alert_rules()}
    assert names == firing, f"alerts without a firing test: {names - firing}"
    assert names == quiet, f"alerts without a case where they must not fire: {names - quiet}"
    assert {"PullinfraNoSuccessfulRun", "PullinfraRunsFailing", "PullinfraDriftDetected",
            "PullinfraSourceFetchFailing", "PullinfraSignatureVerificationFailing",
            "PullinfraHostUnreachable", "PullinfraNotificationQueueGrowing"} <= names


@pytest.fixture(scope="module")
def scraped(tmp_path_factory):
    """A real agent that applied a commit and delivered its report to a real receiver, and a
    real Prometheus scraping the agent with alerts.yaml loaded."""
    tmp = tmp_path_factory.mktemp("scraped")
    fleet = Fleet(tmp)
    sha = fleet.push_site()
    receiver = Receiver().start()
    agent = AgentProcess(fleet.config(poll="1s", notify_url=f"{receiver.url}/report"),
                         tmp / "agent.log", env=env()).start()
    prometheus = None
    try:
        wait_for(receiver.received, 60, "the first run's report", describe=agent.log_tail)
        prometheus = Prometheus(tmp / "prometheus", [f"127.0.0.1:{fleet.port}"], [ALERTS])
        yield fleet, sha, prometheus
    finally:
        if prometheus is not None:
            prometheus.stop()
        agent.terminate()
        receiver.stop()


def values(series: list[dict]) -> list[float]:
    return [float(s["value"][1]) for s in series]


def test_prometheus_scrapes_the_agent_and_answers_for_its_series(scraped):
    _, sha, prometheus = scraped
    applied = wait_for(lambda: prometheus.query(
        f'pullinfra_applied_revision_info{{deployment="site", revision="{sha}"}}'),
        60, "the applied revision in Prometheus", describe=prometheus.log_tail)
    assert values(applied) == [1.0]
    runs = prometheus.query('pullinfra_run_total{deployment="site"} > 0')
    assert [(s["metric"]["trigger"], s["metric"]["result"]) for s in runs] == [
        ("poll", "changed")]
    assert values(runs) == [1.0]
    changed = prometheus.query('sum(pullinfra_host_operations{status="changed"})')
    assert values(changed) == [3.0]  # the site deploy's three operations
    assert values(prometheus.query('pullinfra_host_up{host="@local"}')) == [1.0]
    delivered = prometheus.query('pullinfra_notifications_total{notifier="hook"} > 0')
    assert [s["metric"]["result"] for s in delivered] == ["success"]
    assert values(prometheus.query("pullinfra_notification_queue_depth")) == [0.0]
    assert values(prometheus.query('up{job="pullinfra"}')) == [1.0]


def test_prometheus_evaluates_every_dashboard_query(scraped):
    """Each panel's query, with the variables filled in as Grafana would, is valid PromQL
    and returns data from the agent (the table and the stats too)."""
    _, _, prometheus = scraped
    fill = {"$__rate_interval": "1m", "$deployment": "site", "$host": ".*"}
    queries = []
    for expr in dashboard_exprs():
        for variable, value in fill.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, f"unfilled variable in {expr!r}"
        queries.append(expr)
    empty: list[str] = []

    def all_answer() -> bool:
        # A rate needs two scrapes in its window, so the first seconds may be empty.
        empty[:] = [q for q in queries if not prometheus.query(q)]
        return not empty

    wait_for(all_answer, 60, "data for every dashboard query",
             describe=lambda: f"no data for: {empty}")


def test_prometheus_loads_the_alert_rules_healthy(scraped):
    _, _, prometheus = scraped
    def evaluated() -> list[dict]:
        # A rule not evaluated yet has the zero time, year 1, as its last evaluation.
        groups = prometheus.api("rules")["groups"]
        done = all(not r["lastEvaluation"].startswith("0001")
                   for g in groups for r in g["rules"])
        return groups if groups and done else []

    (group,) = wait_for(evaluated, 30, "the rules to be evaluated",
                        describe=prometheus.log_tail)
    assert group["name"] == "pullinfra"
    assert sorted(r["name"] for r in group["rules"]) == sorted(r["alert"] for r in alert_rules())
    assert [(r["name"], r["health"], r.get("lastError", "")) for r in group["rules"]] == [
        (r["name"], "ok", "") for r in group["rules"]]
    # A healthy agent that just applied its commit (every series starting at 0) alerts on
    # nothing, not even pending.
    assert prometheus.api("alerts")["alerts"] == []


def test_every_alert_says_how_bad_it_is_and_what_to_do():
    for rule in alert_rules():
        assert rule["alert"].startswith("Pullinfra"), rule["alert"]
        assert rule["labels"]["severity"] in ("info", "warning", "critical"), rule["alert"]
        assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]
        assert "runbook_url" not in rule["annotations"], rule["alert"]


def test_every_metric_the_dashboard_and_alerts_query_is_exposed_by_the_agent(scraped):
    fleet, _, _ = scraped
    status, _, body = http("GET", f"{fleet.url}/metrics")
    assert status == 200
    exposed = set(re.findall(r"^(pullinfra_[a-z_]+)", body.decode(), re.M))
    queried = {name for expr in dashboard_exprs() + dashboard_variable_queries()
               for name in METRIC.findall(expr)}
    queried |= {name for rule in alert_rules() for name in METRIC.findall(rule["expr"])}
    assert queried, "no metric names found in the dashboard or the alerts"
    missing = {name for name in queried
               if name not in exposed and HISTOGRAM_SERIES.sub("", name) + "_bucket"
               not in exposed}
    assert not missing, f"queried but not exposed by the agent: {sorted(missing)}"


def test_the_dashboard_has_the_panels_operators_look_for():
    board = json.loads(DASHBOARD.read_text())
    exprs = " ".join(dashboard_exprs())
    for needed in ("pullinfra_run_total", "pullinfra_run_duration_seconds_bucket",
                   'status="changed"', 'status="failed"', "pullinfra_host_drift_operations",
                   "pullinfra_applied_revision_info", "pullinfra_notification_queue_depth"):
        assert needed in exprs, needed
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert set(variables) == {"datasource", "deployment", "host"}
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("deployment", "host"):
        assert variables[name]["definition"].startswith("label_values("), name
    assert 38 <= board["schemaVersion"] <= 40
    for panel in board["panels"]:
        sources = [panel["datasource"], *(t["datasource"] for t in panel["targets"])]
        assert all(s == {"type": "prometheus", "uid": "${datasource}"} for s in sources), \
            panel["title"]
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("ci, outcome", [("true", pytest.fail.Exception),
                                         ("", pytest.skip.Exception)], ids=["CI", "local"])
def test_a_missing_tool_fails_in_ci_and_skips_elsewhere(monkeypatch, ci, outcome):
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="not installed"):
        tool("pullinfra-test-no-such-tool")
