"""The agent's HTTP server, exercised with a real HTTP client on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.http import AgentHTTPServer, PushEvent
from agent.metrics import Metrics
from agent.refusals import DeploymentSuspended, Refusal, ShuttingDown, UnknownDeployment
from tests.agent.receivers import free_port, http

TOKEN = "api-token-123"
SECRETS = {"github": "gh-secret", "gitlab": "gl-token", "gitea": "gt-secret"}
PUSH = json.dumps({
    "ref": "refs/heads/main", "after": "c" * 40,
    "repository": {"full_name": "acme/infra"},
}).encode()


@dataclass
class Daemon:
    """Stands in for the daemon's side of the callbacks: it only records, like a queue."""

    ready: tuple[bool, str] = (False, "waiting for the first fetch")
    triggers: list[str | None] = field(default_factory=list)
    pushes: list[PushEvent] = field(default_factory=list)
    runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    deployments: tuple[str, ...] = ("web", "db")

    def trigger(self, deployment: str | None) -> dict[str, Any]:
        if deployment is not None and deployment not in self.deployments:
            raise UnknownDeployment(f"no deployment {deployment!r}")
        self.triggers.append(deployment)
        return {"deployments": [deployment] if deployment else list(self.deployments)}

    def list_runs(self, deployment: str | None = None, limit: int = 50) -> list[dict]:
        rows = [r for r in self.runs.values()
                if deployment is None or r["deployment"] == deployment]
        return rows[:limit]

    def get_run(self, run_id: int) -> dict | None:
        return self.runs.get(run_id)


@pytest.fixture
def daemon() -> Daemon:
    d = Daemon()
    d.runs = {
        1: {"id": 1, "deployment": "web", "status": "changed"},
        2: {"id": 2, "deployment": "db", "status": "failed"},
    }
    return d


@pytest.fixture
def metrics() -> Metrics:
    m = Metrics()
    m.init_deployment("web")
    m.init_notifier("hook")
    m.set_source_revision("a" * 40)
    m.set_applied_revision("web", "a" * 40)
    return m


@pytest.fixture
def server(daemon: Daemon, metrics: Metrics) -> Iterator[AgentHTTPServer]:
    s = AgentHTTPServer(
        "127.0.0.1:0", metrics, token=TOKEN, webhook_secrets=SECRETS,
        ready=lambda: daemon.ready, runs=daemon, on_trigger=daemon.trigger,
        on_push=daemon.pushes.append,
    )
    s.start()
    yield s
    s.stop()


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def body_json(raw: bytes) -> Any:
    return json.loads(raw)


def webhook_count(m: Metrics, provider: str, result: str) -> float:
    for family in text_string_to_metric_families(m.exposition().decode()):
        for s in family.samples:
            if (s.name == "pullinfra_webhook_requests_total"
                    and s.labels == {"provider": provider, "result": result}):
                return s.value
    raise AssertionError("series missing")


def test_listen_port_zero_exposes_the_real_port(server: AgentHTTPServer) -> None:
    assert server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}"


def test_healthz(server: AgentHTTPServer) -> None:
    status, _, raw = http("GET", server.url + "/healthz")
    assert (status, body_json(raw)) == (200, {"status": "ok"})


def test_readyz_follows_the_readiness_callback(server: AgentHTTPServer, daemon: Daemon) -> None:
    status, _, raw = http("GET", server.url + "/readyz")
    assert status == 503
    assert body_json(raw) == {"ready": False, "reason": "waiting for the first fetch"}
    daemon.ready = (True, "first fetch succeeded; config valid")
    status, _, raw = http("GET", server.url + "/readyz")
    assert (status, body_json(raw)["ready"]) == (200, True)


def test_metrics_is_the_text_exposition(server: AgentHTTPServer) -> None:
    status, headers, raw = http("GET", server.url + "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    names = {f.name for f in text_string_to_metric_families(raw.decode())}
    assert "pullinfra_applied_revision_info" in names
    assert "pullinfra_run" in names  # the counter family of pullinfra_run_total


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_accepts_the_served_metrics(server: AgentHTTPServer, metrics: Metrics) -> None:
    metrics.observe_fetch("success", 0.3, now=time.time())
    metrics.observe_run("web", "poll", "changed", {"setup": 0.1, "execute": 1.2},
                        {"changed": 1, "no_change": 3})
    for provider in ("github", "gitlab", "gitea"):
        metrics.init_webhook_provider(provider)
    _, _, raw = http("GET", server.url + "/metrics")
    check = subprocess.run(["promtool", "check", "metrics"], input=raw, capture_output=True,
                           timeout=60)
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
    assert check.stdout.decode().strip() == ""  # not even a lint warning


def test_unknown_paths_are_404_json(server: AgentHTTPServer) -> None:
    for method, path in (("GET", "/nope"), ("GET", "/metrics/x"), ("POST", "/api/runs"),
                         ("POST", "/hooks/bitbucket")):
        status, _, raw = http(method, server.url + path, body=b"" if method == "POST" else None)
        assert status == 404, path
        assert "error" in body_json(raw)


def test_runs_api_needs_the_token(server: AgentHTTPServer) -> None:
    for headers in ({}, auth("wrong"), {"Authorization": TOKEN}):
        status, resp_headers, raw = http("GET", server.url + "/api/runs", headers=headers)
        assert status == 401
        assert resp_headers["WWW-Authenticate"] == "Bearer"
        assert body_json(raw) == {"error": "missing or wrong bearer token"}


def test_runs_list_filter_and_one(server: AgentHTTPServer) -> None:
    status, _, raw = http("GET", server.url + "/api/runs", headers=auth())
    assert status == 200
    assert [r["id"] for r in body_json(raw)["runs"]] == [1, 2]
    _, _, raw = http("GET", server.url + "/api/runs?deployment=db&limit=5", headers=auth())
    assert [r["id"] for r in body_json(raw)["runs"]] == [2]
    status, _, raw = http("GET", server.url + "/api/runs/1", headers=auth())
    assert (status, body_json(raw)["status"]) == (200, "changed")
    status, _, raw = http("GET", server.url + "/api/runs/9", headers=auth())
    assert status == 404 and "9" in body_json(raw)["error"]
    status, _, _ = http("GET", server.url + "/api/runs?limit=lots", headers=auth())
    assert status == 400


def test_runs_api_serves_the_real_state_db(metrics: Metrics, tmp_path: Path) -> None:
    state = pytest.importorskip("agent.state", reason="agent/state.py has not landed yet")
    from tests.agent.receivers import sample_report

    db = state.StateDB(tmp_path / "state.db")
    try:
        run_id = db.start_run("web", "poll", "apply", "c" * 40)
        db.finish_run(run_id, "partial", report=sample_report(run_id=run_id, status="partial"))
        db.start_run("db", "manual", "apply", "d" * 40)
        with AgentHTTPServer("127.0.0.1:0", metrics, token=TOKEN, runs=db) as s:
            status, _, raw = http("GET", s.url + "/api/runs?deployment=web", headers=auth())
            assert status == 200
            [row] = body_json(raw)["runs"]
            assert (row["id"], row["status"], row["revision"]) == (run_id, "partial", "c" * 40)
            status, _, raw = http("GET", f"{s.url}/api/runs/{run_id}", headers=auth())
            assert status == 200
            assert body_json(raw)["report"]["hosts"][2]["name"] == "web3"
            assert http("GET", s.url + "/api/runs/999", headers=auth())[0] == 404
    finally:
        db.close()


def test_trigger_queues_and_answers_202(server: AgentHTTPServer, daemon: Daemon) -> None:
    status, _, raw = http("POST", server.url + "/api/trigger", body=b"", headers=auth())
    assert status == 202
    assert body_json(raw)["deployments"] == ["web", "db"]
    status, _, raw = http("POST", server.url + "/api/trigger",
                          body=b'{"deployment": "web"}', headers=auth())
    assert (status, body_json(raw)["status"]) == (202, "queued")
    assert daemon.triggers == [None, "web"]


def test_trigger_refusals_are_clear(server: AgentHTTPServer, daemon: Daemon) -> None:
    status, _, _ = http("POST", server.url + "/api/trigger", body=b"{}", headers=auth("bad"))
    assert status == 401
    status, _, raw = http("POST", server.url + "/api/trigger", body=b"{nope", headers=auth())
    assert status == 400 and "JSON" in body_json(raw)["error"]
    status, _, raw = http("POST", server.url + "/api/trigger",
                          body=b'{"deployment": 3}', headers=auth())
    assert status == 400
    status, _, raw = http("POST", server.url + "/api/trigger",
                          body=b'{"deployment": "mail"}', headers=auth())
    assert (status, body_json(raw)) == (404, {"error": "no deployment 'mail'"})
    assert daemon.triggers == []


@pytest.mark.parametrize("refusal, status", [(ShuttingDown, 503), (UnknownDeployment, 404),
                                             (DeploymentSuspended, 409), (Refusal, 409)])
def test_each_daemon_refusal_has_its_status(metrics: Metrics, refusal: type[Refusal],
                                            status: int) -> None:
    def refuse(deployment: str | None) -> None:
        raise refusal(f"refused {deployment}")

    with AgentHTTPServer("127.0.0.1:0", metrics, token=TOKEN, on_trigger=refuse) as s:
        answer = http("POST", s.url + "/api/trigger", body=b'{"deployment": "web"}',
                      headers=auth())
    assert (answer[0], body_json(answer[2])) == (status, {"error": "refused web"})


def test_without_a_configured_token_the_api_is_off(metrics: Metrics, daemon: Daemon) -> None:
    with AgentHTTPServer("127.0.0.1:0", metrics, runs=daemon,
                         on_trigger=daemon.trigger) as s:
        status, _, raw = http("POST", s.url + "/api/trigger", body=b"", headers=auth())
        assert status == 403 and "[http] token" in body_json(raw)["error"]
        status, _, _ = http("GET", s.url + "/api/runs", headers=auth(""))
        assert status == 403
    assert daemon.triggers == []


def signed(provider: str, body: bytes, secret: str | None = None, event: str | None = None
           ) -> dict[str, str]:
    secret = SECRETS[provider] if secret is None else secret
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if provider == "github":
        return {"X-GitHub-Event": event or "push", "X-Hub-Signature-256": f"sha256={digest}",
                "X-GitHub-Delivery": "d-1", "Content-Type": "application/json"}
    if provider == "gitea":
        return {"X-Gitea-Event": event or "push", "X-Gitea-Signature": digest,
                "X-Gitea-Delivery": "d-1", "Content-Type": "application/json"}
    return {"X-Gitlab-Event": event or "Push Hook", "X-Gitlab-Token": secret,
            "X-Gitlab-Event-UUID": "d-1", "Content-Type": "application/json"}


@pytest.mark.parametrize("provider", ["github", "gitlab", "gitea"])
def test_a_signed_push_is_accepted_and_reaches_the_callback(
    server: AgentHTTPServer, daemon: Daemon, metrics: Metrics, provider: str
) -> None:
    status, _, raw = http("POST", f"{server.url}/hooks/{provider}", body=PUSH,
                          headers=signed(provider, PUSH))
    assert status == 202
    assert body_json(raw) == {"status": "accepted", "ref": "refs/heads/main",
                              "revision": "c" * 40}
    assert daemon.pushes == [PushEvent(provider, "refs/heads/main", "c" * 40, "acme/infra",
                                       "d-1")]
    assert webhook_count(metrics, provider, "accepted") == 1


@pytest.mark.parametrize("provider", ["github", "gitlab", "gitea"])
def test_a_bad_or_missing_signature_is_401_counted_and_triggers_nothing(
    server: AgentHTTPServer, daemon: Daemon, metrics: Metrics, provider: str
) -> None:
    bad = signed(provider, PUSH, secret="not-the-secret")
    missing = {k: v for k, v in signed(provider, PUSH).items()
               if k not in ("X-Hub-Signature-256", "X-Gitea-Signature", "X-Gitlab-Token")}
    cases = [(bad, PUSH), (missing, PUSH)]
    if provider != "gitlab":  # GitLab sends a token, not a signature of the body
        cases.append((signed(provider, PUSH), PUSH + b" "))
    for headers, body in cases:
        status, _, raw = http("POST", f"{server.url}/hooks/{provider}", body=body,
                              headers=headers)
        assert status == 401
        assert provider in body_json(raw)["error"]
    assert daemon.pushes == []
    assert webhook_count(metrics, provider, "unauthorized") == len(cases)
    assert SECRETS[provider] not in metrics.exposition().decode()


@pytest.mark.parametrize("provider, event", [("github", "ping"), ("gitea", "create"),
                                             ("gitlab", "Merge Request Hook")])
def test_other_events_are_ignored(server: AgentHTTPServer, daemon: Daemon, metrics: Metrics,
                                  provider: str, event: str) -> None:
    body = b'{"zen": "Keep it logically awesome."}'
    status, _, raw = http("POST", f"{server.url}/hooks/{provider}", body=body,
                          headers=signed(provider, body, event=event))
    assert (status, body_json(raw)) == (200, {"status": "ignored", "event": event})
    assert daemon.pushes == []
    assert webhook_count(metrics, provider, "ignored") == 1


@pytest.mark.parametrize("provider", ["github", "gitlab", "gitea"])
def test_a_signed_but_malformed_payload_is_400(server: AgentHTTPServer, daemon: Daemon,
                                               metrics: Metrics, provider: str) -> None:
    for body in (b"{not json", b'["a", "list"]'):
        status, _, raw = http("POST", f"{server.url}/hooks/{provider}", body=body,
                              headers=signed(provider, body))
        assert status == 400
        assert "JSON object" in body_json(raw)["error"]
    assert daemon.pushes == []
    assert webhook_count(metrics, provider, "bad_request") == 2


def test_github_form_encoded_push_is_accepted(server: AgentHTTPServer, daemon: Daemon) -> None:
    body = urllib.parse.urlencode({"payload": PUSH.decode()}).encode()
    headers = signed("github", body)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    status, _, _ = http("POST", f"{server.url}/hooks/github", body=body, headers=headers)
    assert status == 202
    assert daemon.pushes[0].revision == "c" * 40


def test_a_json_push_labelled_as_a_form_is_still_read(server: AgentHTTPServer,
                                                      daemon: Daemon) -> None:
    headers = signed("gitea", PUSH)
    headers["Content-Type"] = "application/x-www-form-urlencoded"  # what curl -d sends
    status, _, _ = http("POST", f"{server.url}/hooks/gitea", body=PUSH, headers=headers)
    assert status == 202
    assert daemon.pushes[0].ref == "refs/heads/main"


def test_a_provider_without_a_secret_refuses_everything(metrics: Metrics, daemon: Daemon
                                                        ) -> None:
    with AgentHTTPServer("127.0.0.1:0", metrics, on_push=daemon.pushes.append) as s:
        status, _, _ = http("POST", s.url + "/hooks/github", body=PUSH,
                            headers=signed("github", PUSH, secret=""))
        assert status == 401
    assert daemon.pushes == []


def test_a_callback_bug_is_a_500_without_a_traceback(metrics: Metrics) -> None:
    def broken(deployment: str | None) -> None:
        raise RuntimeError("secret internals /etc/pullinfra/token")

    with AgentHTTPServer("127.0.0.1:0", metrics, token=TOKEN, on_trigger=broken) as s:
        status, _, raw = http("POST", s.url + "/api/trigger", body=b"", headers=auth())
    assert status == 500
    assert body_json(raw) == {"error": "internal error; see the agent's log"}


def test_a_slow_callback_does_not_block_other_requests(metrics: Metrics) -> None:
    """The server is threaded: health checks answer while a trigger handler is held."""
    release = threading.Event()
    entered = threading.Event()

    def slow(deployment: str | None) -> None:
        entered.set()
        release.wait(10)

    with AgentHTTPServer("127.0.0.1:0", metrics, token=TOKEN, on_trigger=slow) as s:
        answers: list[int] = []
        t = threading.Thread(target=lambda: answers.append(
            http("POST", s.url + "/api/trigger", body=b"", headers=auth())[0]))
        t.start()
        assert entered.wait(10)
        assert http("GET", s.url + "/healthz")[0] == 200
        release.set()
        t.join(10)
    assert answers == [202]


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus not installed")
def test_a_real_prometheus_scrapes_the_agent(server: AgentHTTPServer, tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: pullinfra\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{server.port}']}}]\n"
    )
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    api = f"http://127.0.0.1:{port}/api/v1"
    try:
        health, value = None, None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status, _, raw = http("GET", api + "/targets", timeout=2)
                if status != 200:  # 503 "Service Unavailable" while Prometheus starts up
                    time.sleep(0.25)
                    continue
                targets = json.loads(raw)["data"]["activeTargets"]
                health = targets[0]["health"] if targets else None
                if health == "up":
                    q = urllib.parse.quote('pullinfra_applied_revision_info{deployment="web"}')
                    status, _, raw = http("GET", f"{api}/query?query={q}", timeout=2)
                    result = json.loads(raw)["data"]["result"] if status == 200 else []
                    if result:
                        value = result[0]
                        break
            except OSError:
                pass
            time.sleep(0.25)
        assert health == "up", (tmp_path / "prometheus.log").read_text()[-2000:]
        assert value is not None
        assert value["metric"]["revision"] == "a" * 40
        assert value["value"][1] == "1"
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
