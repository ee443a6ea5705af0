"""Issue 16, health gates in a real rollout: a real agent, a real git remote, two bed hosts, a
PromQL gate against a real Prometheus and an HTTP gate against a real server, both on
loopback, both reading the application's health from what the commit put on each host.

A good commit passes both gates after each wave. A commit that the metrics call unhealthy
halts at the canary's PromQL gate, and one that the health endpoint calls unhealthy halts
at its HTTP gate; each time the canary is rolled back and the other host is untouched.
"""

from __future__ import annotations

import shutil

import pytest

from tests.acceptance_agent.harness import report_of, to_toml
from tests.health_endpoints import Endpoint, HealthServer, Prometheus, gauges
from tests.polling import wait_for

CONF = "/etc/app.conf"
DEPLOY = ("from pyinfra.operations import files\n\n"
          f'files.put(name="app.conf", src="files/app.conf", dest="{CONF}")\n')
PROMQL = 'app_healthy{host=~"{hosts}"}'


def _tree(hosts, content: str) -> dict[str, str]:
    inventory = hosts[0].bed.inventory(list(hosts), groups={"canary": [hosts[0].name]})
    return {"inventory.py": inventory, "deploy.py": DEPLOY, "files/app.conf": content}


@pytest.fixture
def health():
    server = HealthServer()
    yield server
    server.close()


def test_promql_and_http_gates_pass_a_good_commit_and_halt_bad_ones(
        remote, bed_hosts, make_agent, health, tmp_path):
    if shutil.which("prometheus") is None:
        pytest.skip("prometheus not installed (Debian package prometheus)")
    hosts = bed_hosts(2)
    canary, other = hosts

    def app(host) -> str:
        return host.read_text(CONF) or ""

    # The application's health, as its endpoint and its metrics would say it.
    for host in hosts:
        health.endpoints[f"/health/{host.name}"] = lambda host=host: Endpoint(
            503 if "http-broken" in app(host) else 200, b"")
    health.endpoints["/metrics"] = lambda: gauges(
        {h.name: 0 if "metrics-broken" in app(h) else 1 for h in hosts})
    prometheus = Prometheus(health.port, tmp_path)
    try:
        wait_for(lambda: len(prometheus.values("app_healthy")) == 2, 60,
                 "Prometheus to scrape the application's gauges",
                 describe=lambda: prometheus.log_path.read_text()[-2000:])
        promql = {"type": "promql", "name": "healthy in Prometheus", "url": prometheus.url,
                  "query": PROMQL}
        endpoint = {"type": "http", "url": f"http://127.0.0.1:{health.port}/health/{{name}}",
                    "retries": 2, "interval": "1s"}
        agent = make_agent(url=remote.url)
        agent.config["deployment"][0]["rollout"] = {
            "on_failure": "rollback",
            # Eight scrape intervals after the wave, so Prometheus has seen what the commit
            # did even on a loaded machine whose scrapes run late.
            "waves": [{"name": "canary", "group": "canary", "pause": "8s"}],
            "gates": [promql, endpoint]}
        agent.config_path.write_text(to_toml(agent.config))
        http_gate = f"http: http://127.0.0.1:{health.port}/health/{{name}}"

        good = remote.commit_and_push(_tree(hosts, "good"), "good")
        agent.start()
        run = agent.wait_finished(good, timeout=180)
        assert run["status"] == "changed", agent.describe()
        rollout = report_of(run)["rollout"]
        assert [(w["name"], w["hosts"], w["status"]) for w in rollout["waves"]] == [
            ("canary", [canary.name], "passed"), ("rest", [other.name], "passed")], rollout
        assert [[(g["gate"], g["status"], g["detail"]) for g in w["gates"]]
                for w in rollout["waves"]] == [
            [("healthy in Prometheus", "passed", "1 sample, all non-zero"),
             (http_gate, "passed", "HTTP 2xx from 1 host")]] * 2, rollout

        # The metrics call the canary unhealthy: the PromQL gate halts the rollout there.
        sick = remote.commit_and_push(_tree(hosts, "good metrics-broken"), "metrics broken")
        run = agent.wait_finished(sick, timeout=180)
        assert run["status"] == "failed", agent.describe()
        rollout = report_of(run)["rollout"]
        print("halted by the PromQL gate:", rollout)
        assert (rollout["halted"], rollout["halted_at"]) == (True, "canary"), rollout
        gate = rollout["waves"][0]["gates"][0]
        assert (gate["gate"], gate["status"]) == ("healthy in Prometheus", "failed"), rollout
        assert gate["detail"].startswith(
            f'1 of 1 sample zero: app_healthy{{host="{canary.name}", '), gate
        assert "healthy in Prometheus" in rollout["reason"], rollout
        assert rollout["rolled_back"]["revision"] == good, rollout
        assert (app(canary), app(other)) == ("good", "good")

        # The health endpoint calls the canary unhealthy: the HTTP gate halts it.
        down = remote.commit_and_push(_tree(hosts, "good http-broken"), "endpoint broken")
        run = agent.wait_finished(down, timeout=180)
        assert run["status"] == "failed", agent.describe()
        rollout = report_of(run)["rollout"]
        gates = [(g["gate"], g["status"]) for g in rollout["waves"][0]["gates"]]
        assert gates == [("healthy in Prometheus", "passed"), (http_gate, "failed")], rollout
        assert rollout["waves"][0]["gates"][1]["detail"] == (
            f"{canary.name}: HTTP 503, expected 2xx after 3 tries"), rollout
        assert rollout["rolled_back"]["revision"] == good, rollout
        assert (app(canary), app(other)) == ("good", "good")
    finally:
        prometheus.stop()
