"""Black-box harness for the agent's acceptance tests: a real `pullinfra agent` subprocess.

The agent is observed only from outside, through its contracts (docs/architecture.md): the HTTP API
(/metrics, /healthz, /readyz, /api/runs), the state CLI (`pullinfra history|show --json`), the
reports a real receiver gets, and the hosts' files read directly (tests.testbed.Host).
Nothing here imports the daemon.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import subprocess
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.agent.process import PULLINFRA, AgentProcess
from tests.agent.receivers import http
from tests.polling import wait_for

ROOT = Path(__file__).resolve().parents[2]
ARCHITECTURE = ROOT / "docs" / "architecture.md"

API_TOKEN = "acceptance-api-token"
WEBHOOK_SECRET = "acceptance-webhook-secret"
REPORT_SECRET = "acceptance-report-secret"
DEPLOYMENT = "app"

FINISHED = frozenset({"unchanged", "changed", "drift_corrected", "drift_detected", "failed",
                      "partial", "interrupted", "superseded"})

def clean_env() -> dict[str, str]:
    """The test's environment without PULLINFRA_* (config overrides) or GIT_* variables."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PULLINFRA_", "GIT_"))}


# ---- TOML (the config file the agent reads) ----

def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value))  # a JSON string of ASCII is a TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML for {value!r}")


def to_toml(config: Mapping[str, Any]) -> str:
    """Top-level keys, then [tables], then [[arrays of tables]] (one level of nesting)."""
    lines: list[str] = []
    for key, value in config.items():
        if not isinstance(value, Mapping | list) or (isinstance(value, list) and not all(
                isinstance(v, Mapping) for v in value)):
            lines.append(f"{key} = {_toml_value(value)}")
    for key, value in config.items():
        if isinstance(value, Mapping):
            lines.append(f"\n[{key}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in value.items()]
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            for table in value:
                lines.append(f"\n[[{key}]]")
                lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def agent_config(*, url: str, port: int, state_dir: Path, instance: str = "acceptance",
                 poll_interval: str = "1s", reconcile_interval: str | int = 0,
                 reconcile_mode: str = "apply", notify_url: str | None = None,
                 notify_on: Iterable[str] = ("all",), data: Mapping[str, Any] | None = None,
                 shard: tuple[int, int] | None = None, shutdown_grace: str | None = None,
                 source: Mapping[str, Any] | None = None,
                 ssh: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A complete agent config: one deployment "app" = inventory.py + deploy.py of the repo.

    `ssh` is the [ssh] table (host keys); bed inventories name the bed's known_hosts in each
    host's data, which wins over it."""
    config: dict[str, Any] = {
        "instance": instance,
        "source": {"url": url, "ref": "main", "poll_interval": poll_interval,
                   "timeout": "30s", **(source or {})},
        "deployment": [{"name": DEPLOYMENT, "inventory": "inventory.py",
                        "deploys": ["deploy.py"], "data": dict(data or {})}],
        "reconcile": {"interval": reconcile_interval, "mode": reconcile_mode, "jitter": 0},
        "http": {"listen": f"127.0.0.1:{port}", "token": API_TOKEN,
                 "webhook_secret": WEBHOOK_SECRET},
        "state": {"dir": str(state_dir)},
        "log": {"level": "debug"},
    }
    if notify_url:
        config["notify"] = [{"type": "webhook", "name": "receiver", "url": notify_url,
                             "secret": REPORT_SECRET, "on": list(notify_on), "timeout": "2s"}]
    if shutdown_grace is not None:
        config["shutdown_grace"] = shutdown_grace
    if shard:
        config["shard"] = {"index": shard[0], "count": shard[1]}
    if ssh is not None:
        config["ssh"] = dict(ssh)
    return config


# ---- /metrics ----

class Scrape:
    """One /metrics scrape, parsed with prometheus_client's own parser."""

    def __init__(self, text: str):
        self.text = text
        self.samples = [s for family in text_string_to_metric_families(text)
                        for s in family.samples]
        self.families = {family.name: family for family in
                         text_string_to_metric_families(text)}

    def matching(self, name: str, **labels: str) -> list[Any]:
        return [s for s in self.samples if s.name == name
                and all(s.labels.get(k) == v for k, v in labels.items())]

    def sum(self, name: str, **labels: str) -> float:
        return sum(s.value for s in self.matching(name, **labels))

    def value(self, name: str, **labels: str) -> float | None:
        """The value of the one sample with exactly these labels, None when absent."""
        for s in self.samples:
            if s.name == name and s.labels == labels:
                return s.value
        return None


# ---- the agent process ----

class Agent(AgentProcess):
    """`pullinfra agent --config FILE` as a subprocess, on its own free port."""

    def __init__(self, workdir: Path, config: Mapping[str, Any], name: str = "agent",
                 pullinfra: Path = PULLINFRA):
        self.workdir = workdir
        self.config = dict(config)
        config_path = workdir / f"{name}.toml"
        config_path.write_text(to_toml(self.config))
        super().__init__(config_path, workdir / f"{name}.log", env=clean_env(), cwd=workdir,
                         name=name, pullinfra=pullinfra)
        self.port = int(self.config["http"]["listen"].rpartition(":")[2])
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> Agent:
        super().start()
        return self

    # HTTP
    def get(self, path: str, token: bool = False, timeout: float = 5.0
            ) -> tuple[int, dict[str, str], bytes]:
        headers = {"Authorization": f"Bearer {API_TOKEN}"} if token else {}
        return http("GET", self.url + path, headers=headers, timeout=timeout)

    def post(self, path: str, body: bytes, headers: Mapping[str, str]
             ) -> tuple[int, dict[str, str], bytes]:
        return http("POST", self.url + path, body=body, headers=dict(headers))

    def _alive_or_fail(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"agent exited with {self.proc.returncode}\n{self.log_tail()}")

    def healthz(self) -> int | None:
        try:
            return self.get("/healthz")[0]
        except OSError:
            return None

    def wait_ready(self, timeout: float = 60.0) -> None:
        def ready() -> bool:
            self._alive_or_fail()
            try:
                return self.get("/readyz")[0] == 200
            except OSError:
                return False
        wait_for(ready, timeout, f"{self.name} /readyz 200", describe=self.log_tail)

    def scrape(self) -> Scrape:
        status, _, body = self.get("/metrics")
        assert status == 200, f"/metrics answered {status}"
        return Scrape(body.decode())

    def runs(self) -> list[dict[str, Any]]:
        """Every run in /api/runs, oldest first."""
        status, _, body = self.get(f"/api/runs?deployment={DEPLOYMENT}&limit=1000", token=True)
        assert status == 200, f"/api/runs answered {status}: {body[:300]!r}"
        return sorted(json.loads(body)["runs"], key=lambda run: run["id"])

    def wait_run(self, what: str, predicate: Callable[[dict[str, Any]], bool],
                 timeout: float = 60.0, interval: float = 0.2) -> dict[str, Any]:
        """The first run (oldest first) that matches `predicate`, waiting for it."""
        def probe() -> dict[str, Any] | None:
            self._alive_or_fail()
            try:
                runs = self.runs()
            except OSError:
                return None
            return next((run for run in runs if predicate(run)), None)

        return wait_for(probe, timeout, what, interval=interval, describe=self.describe)

    def wait_finished(self, revision: str, timeout: float = 60.0,
                      trigger: str | None = None) -> dict[str, Any]:
        """The first finished run of `revision` (and trigger, if given)."""
        return self.wait_run(
            f"a finished run of {revision[:8]}",
            lambda r: r["revision"] == revision and r["status"] in FINISHED
            and r["status"] != "superseded" and (trigger is None or r["trigger"] == trigger),
            timeout)

    def describe(self) -> str:
        try:
            runs = [(r["id"], r["trigger"], (r["revision"] or "")[:8], r["status"])
                    for r in self.runs()]
        except (OSError, AssertionError, KeyError, ValueError) as exc:
            runs = [f"(runs unavailable: {exc})"]
        return f"runs: {runs}\n{self.log_tail()}"

    # the state CLI
    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.pullinfra), *args, "--config", str(self.config_path)],
                              cwd=self.workdir, env=clean_env(), capture_output=True, text=True,
                              timeout=60)

    def history(self) -> list[dict[str, Any]]:
        """`pullinfra history --json`: every run, oldest first."""
        done = self.cli("history", "--json")
        assert done.returncode == 0, f"pullinfra history: {done.returncode}\n{done.stderr}"
        data = json.loads(done.stdout)
        runs = data["runs"] if isinstance(data, Mapping) else data
        return sorted(runs, key=lambda run: run["id"])

    def show(self, run_id: int | str) -> dict[str, Any]:
        done = self.cli("show", str(run_id), "--json")
        assert done.returncode == 0, f"pullinfra show {run_id}: {done.returncode}\n{done.stderr}"
        return json.loads(done.stdout)


# ---- reports ----

def report_of(run: Mapping[str, Any]) -> dict[str, Any]:
    """A run's ChangeReport (the API serves it in the run's `report`)."""
    report = run.get("report")
    assert isinstance(report, Mapping), f"run {run.get('id')} has no report: {run}"
    return dict(report)


def operations(report: Mapping[str, Any], host: str) -> dict[str, str]:
    """{operation name: status} of one host in a ChangeReport."""
    for entry in report["hosts"]:
        if entry["name"] == host:
            return {op["name"]: op["status"] for op in entry["operations"]}
    raise AssertionError(f"host {host} not in the report: {[h['name'] for h in report['hosts']]}")


def github_push_headers(body: bytes, delivery: str, secret: str = WEBHOOK_SECRET
                        ) -> dict[str, str]:
    """The headers GitHub sends with a push event, signed with `secret`."""
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-GitHub-Event": "push",
            "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": signature}


def github_push(url: str, before: str, after: str) -> tuple[bytes, dict[str, str]]:
    """A signed GitHub push event of the main branch from `before` to `after`."""
    body = json.dumps({
        "ref": "refs/heads/main", "before": before, "after": after,
        "repository": {"full_name": "acme/fleet", "clone_url": url},
        "head_commit": {"id": after, "message": "push"},
    }).encode()
    return body, github_push_headers(body, f"push-{after[:12]}")


def signature_ok(request: Any, secret: str) -> bool:
    """Whether a received report's X-Pullinfra-Signature is the HMAC-SHA256 of its raw body."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    given = headers.get("x-pullinfra-signature", "")
    expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(given, expected)


ARCH_METRIC = re.compile(r"^- `(pullinfra_[a-z_]+)(?:\{([a-z_,]*)\})?`", re.M)


def architecture_metrics(document: Path = ARCHITECTURE) -> dict[str, list[str]]:
    """{metric name: [label names]} from a document's metrics contract."""
    text = document.read_text()
    section = text.split("### Metrics", 1)[1].split("###", 1)[0]
    return {m.group(1): [lb for lb in (m.group(2) or "").split(",") if lb]
            for m in ARCH_METRIC.finditer(section)}
