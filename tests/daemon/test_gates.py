"""Health gates (agent/daemon/gates.py) against real parts: bed hosts over SSH for the command
gate, a real HTTP server on loopback, a real Prometheus scraping a real target on loopback,
and soak gates with an injected clock (no real waiting)."""

from __future__ import annotations

import dataclasses
import re
import shutil
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from agent.config import ConfigError, load_config
from agent.config.models import GateConfig
from agent.daemon.gates import GateContext, GateResult, check_gate, hosts_regex
from agent.engine.inventory import Inventory, InventoryHost, load_inventory
from tests.agent.receivers import free_port
from tests.health_endpoints import Endpoint, HealthServer, Prometheus, gauges
from tests.polling import wait_for

SECRET = "s3cr3t-app-token"
GATE = TypeAdapter(GateConfig)


def gate(**fields: Any) -> GateConfig:
    """A gate as the config loader makes it, from the keys an operator writes."""
    return GATE.validate_python(fields)


@dataclass
class FakeClock:
    """The daemon's clock and sleep, injected: sleeping moves time on at once."""

    now: float = 1000.0
    slept: list[float] = field(default_factory=list)
    cancel_after: int | None = None  # sleeps allowed before sleep() says "cancelled"
    on_sleep: Callable[[int], None] | None = None  # called with the number of sleeps so far

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> bool:
        if self.cancel_after is not None and len(self.slept) >= self.cancel_after:
            return False
        self.slept.append(seconds)
        self.now += seconds
        if self.on_sleep is not None:
            self.on_sleep(len(self.slept))
        return True


def context(inventory: Inventory, hosts: tuple[str, ...], clock: FakeClock | None = None,
            failures: Callable[[], int] = lambda: 0, **extra: Any) -> GateContext:
    clock = clock or FakeClock()
    return GateContext(deployment="app", wave="canary", hosts=hosts, inventory=inventory,
                       revision="a" * 40, clock=clock.clock, sleep=clock.sleep,
                       failures=failures, **extra)


def loopback_inventory(*names: str) -> Inventory:
    """Hosts the HTTP and PromQL gates only name (they are never connected to)."""
    hosts = tuple(InventoryHost(name, (), {"ssh_hostname": "127.0.0.1"}, "ssh", "test")
                  for name in names)
    return Inventory("inventory.py", hosts)


# -- command gates on bed hosts ---------------------------------------------------------------


@pytest.fixture
def two_bed_hosts(bed_hosts, bed_inventory) -> tuple[Inventory, list]:
    """web-01 and web-02 on the bed, each with a secret in its data."""
    hosts = bed_hosts(2)
    loaded = load_inventory(bed_inventory({"web-01": hosts[0], "web-02": hosts[1]}))
    with_secret = tuple(dataclasses.replace(h, data={**h.data, "app_token": SECRET})
                        for h in loaded.hosts)
    return dataclasses.replace(loaded, hosts=with_secret), hosts


APP_CHECK = ("if [ -e /etc/app-broken ]; then echo starting >&2; cat /etc/app-broken >&2; "
             "exit 3; fi; echo active")


def test_command_gate_passes_on_every_host_and_names_the_one_that_fails(two_bed_hosts) -> None:
    inventory, (_, web2) = two_bed_hosts
    hosts = ("web-01", "web-02")
    check = gate(type="command", command=APP_CHECK, timeout=60)

    ok = check_gate(check, context(inventory, hosts))
    assert ok.passed, ok.detail
    assert ok.detail == "exit 0 on 2 hosts"
    assert ok.gate == f"command: {APP_CHECK}"[:97] + "..."  # names are kept short

    web2.write_file("/etc/app-broken", f"app failed: bad token {SECRET}\n")
    failed = check_gate(check, context(inventory, hosts))
    assert not failed.passed
    assert "web-02: exit 3" in failed.detail and "web-01" not in failed.detail, failed.detail
    assert "bad token ***" in failed.detail, failed.detail  # the last stderr line, masked
    assert SECRET not in failed.detail
    assert len(failed.detail) <= 300

    tolerant = gate(type="command", command=APP_CHECK, max_failed_hosts=1)
    allowed = check_gate(tolerant, context(inventory, hosts))
    assert allowed.passed, allowed.detail
    assert "failed on 1 of 2 hosts (1 allowed): web-02: exit 3" in allowed.detail


def test_command_gate_fails_a_host_that_runs_over_its_timeout_or_cannot_be_reached(
    two_bed_hosts,
) -> None:
    inventory, (web1, web2) = two_bed_hosts
    web1.write_file("/etc/slow", "")
    slow = gate(type="command", command="if [ -e /etc/slow ]; then sleep 30; fi", timeout=1)
    result = check_gate(slow, context(inventory, ("web-01", "web-02")))
    assert not result.passed
    assert result.detail == "failed on 1 of 2 hosts: web-01: timed out after 1s"

    web2.stop_sshd()
    down = check_gate(gate(type="command", command="true"), context(inventory, ("web-02",)))
    assert not down.passed
    assert down.detail.startswith("failed on 1 of 1 host: web-02: unreachable"), down.detail


# -- HTTP gates against a real server on loopback ----------------------------------------------


@pytest.fixture
def health() -> Iterator[HealthServer]:
    server = HealthServer()
    yield server
    server.close()


WAVE = ("web-01", "web-02")


def test_http_gate_passes_on_the_expected_status_and_body(health: HealthServer) -> None:
    health.endpoints["/health"] = Endpoint(200, b'{"status": "ok", "db": "up"}')
    inventory = loopback_inventory(*WAVE)
    result = check_gate(gate(type="http", url=health.url + "/health", expect_body='"db": "up"'),
                        context(inventory, WAVE))
    assert result == GateResult(gate=f"http: {health.url}/health", passed=True,
                                detail=f"HTTP 2xx with the expected text from {health.url}"
                                       "/health", duration_seconds=0.0)
    head = check_gate(gate(type="http", url=health.url + "/health", method="POST",
                           expect_status=[200]), context(inventory, WAVE))
    assert head.passed, head.detail
    assert health.requests[-1][0] == "POST"


def test_http_gate_fails_on_another_status_or_a_body_without_the_text(
    health: HealthServer,
) -> None:
    health.endpoints["/health"] = Endpoint(503, b"starting")
    inventory = loopback_inventory(*WAVE)
    url = health.url + "/health?token=" + SECRET
    result = check_gate(gate(type="http", url=url), context(inventory, WAVE))
    assert not result.passed
    assert result.detail == f"{health.url}/health: HTTP 503, expected 2xx"
    assert SECRET not in result.gate + result.detail  # the query string is never shown

    health.endpoints["/health"] = Endpoint(200, b'{"status": "degraded"}')
    body = check_gate(gate(type="http", url=url, expect_body='"status": "ok"'),
                      context(inventory, WAVE))
    assert not body.passed
    assert "HTTP 200 but the body does not contain '\"status\": \"ok\"'" in body.detail

    moved = check_gate(gate(type="http", url=health.url + "/gone", expect_status=[200, 204]),
                       context(inventory, WAVE))
    assert moved.detail == f"{health.url}/gone: HTTP 404, expected 200/204"


def test_http_gate_times_out_and_retries_until_its_attempts_are_spent(
    health: HealthServer,
) -> None:
    health.endpoints["/slow"] = Endpoint(200, b"late", delay=3.0)
    inventory = loopback_inventory(*WAVE)
    clock = FakeClock()
    slow = check_gate(gate(type="http", url=health.url + "/slow", timeout="500ms", retries=2,
                           interval="10s"), context(inventory, WAVE, clock))
    assert not slow.passed
    assert slow.detail == f"{health.url}/slow: no answer within 0.5s after 3 tries"
    assert clock.slept == [10.0, 10.0]
    assert slow.duration_seconds == 20.0  # on the injected clock

    # Down twice, then up: the third try passes and no more are made.
    health.endpoints["/ready"] = Endpoint(503, b"")
    clock = FakeClock(on_sleep=lambda n: health.endpoints.__setitem__(
        "/ready", Endpoint(503 if n < 2 else 200)))
    ready = check_gate(gate(type="http", url=health.url + "/ready", retries=5, interval=2),
                       context(inventory, WAVE, clock))
    assert ready.passed, ready.detail
    assert clock.slept == [2.0, 2.0]

    refused = check_gate(gate(type="http", url=f"http://127.0.0.1:{free_port()}/health"),
                         context(inventory, WAVE))
    assert not refused.passed and "cannot connect: Connection refused" in refused.detail


def test_http_gate_with_host_checks_every_host_of_the_wave(health: HealthServer) -> None:
    health.endpoints["/health/web-01"] = Endpoint(200)
    health.endpoints["/health/web-02"] = Endpoint(500, b"")
    inventory = loopback_inventory("web-01", "web-02", "web-03")
    url = f"http://{{host}}:{health.port}/health/{{name}}"
    result = check_gate(gate(type="http", url=url), context(inventory, WAVE))
    assert not result.passed
    assert result.detail == "web-02: HTTP 500, expected 2xx"
    assert sorted(path for _, path in health.requests) == ["/health/web-01", "/health/web-02"]

    health.endpoints["/health/web-02"] = Endpoint(204, b"")
    again = check_gate(gate(type="http", url=url), context(inventory, WAVE))
    assert again.passed and again.detail == "HTTP 2xx from 2 hosts", again.detail


# -- PromQL gates against a real Prometheus on loopback ----------------------------------------


@pytest.fixture
def prometheus(health: HealthServer, tmp_path: Path) -> Iterator[Prometheus]:
    if shutil.which("prometheus") is None:
        pytest.skip("prometheus not installed (Debian package prometheus)")
    server = Prometheus(health.port, tmp_path)
    yield server
    server.stop()


def test_promql_gate_against_a_real_prometheus(health: HealthServer,
                                               prometheus: Prometheus) -> None:
    # web-02.lan has a dot: {hosts} must escape it. web-03 is not in the wave and unhealthy.
    wave = ("web-01", "web-02.lan")
    inventory = loopback_inventory("web-01", "web-02.lan", "web-03")
    health.endpoints["/metrics"] = gauges({"web-01": 1, "web-02.lan": 1, "web-03": 0})
    wait_for(lambda: prometheus.values("app_healthy") == {"web-01": "1", "web-02.lan": "1",
                                                          "web-03": "0"},
             60, "Prometheus to scrape the gauges",
             describe=lambda: prometheus.log_path.read_text()[-2000:])

    good = gate(type="promql", url=prometheus.url, query='app_healthy{host=~"{hosts}"}')
    bad = gate(type="promql", url=prometheus.url, expect="empty",
               query='app_healthy{host=~"{hosts}"} == 0')
    passed = check_gate(good, context(inventory, wave))
    assert passed.passed, passed.detail
    assert passed.detail == "2 samples, all non-zero"
    assert passed.gate == 'promql: app_healthy{host=~"{hosts}"}'
    assert check_gate(bad, context(inventory, wave)).passed

    health.endpoints["/metrics"] = gauges({"web-01": 1, "web-02.lan": 0, "web-03": 0})
    wait_for(lambda: prometheus.values('app_healthy{host="web-02.lan"}') == {"web-02.lan": "0"},
             60, "Prometheus to scrape the changed gauge")
    failed = check_gate(good, context(inventory, wave))
    assert not failed.passed
    assert failed.detail == ('1 of 2 samples zero: app_healthy{host="web-02.lan", '
                             f'instance="127.0.0.1:{health.port}", job="app"}} = 0')
    alert = check_gate(bad, context(inventory, wave))
    assert not alert.passed
    assert alert.detail.startswith("1 sample, expected none: app_healthy{host=\"web-02.lan\"")

    nothing = check_gate(gate(type="promql", url=prometheus.url, query="absent_metric_xyz"),
                         context(inventory, wave))
    assert nothing.detail == "no samples; expected at least one, all non-zero"

    broken = check_gate(gate(type="promql", url=prometheus.url, query="sum(app_healthy"),
                        context(inventory, wave))
    assert not broken.passed
    assert broken.detail.startswith("Prometheus refused the query (HTTP 400, bad_data): "), \
        broken.detail


def test_promql_gate_fails_when_prometheus_is_down() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    clock = FakeClock()
    result = check_gate(gate(type="promql", url=url, query="up", retries=1, interval=5),
                        context(loopback_inventory("web-01"), ("web-01",), clock))
    assert not result.passed
    assert result.detail == (f"Prometheus at {url}: cannot connect: Connection refused"
                             " after 2 tries")
    assert clock.slept == [5.0]


def test_hosts_regex_escapes_names_for_a_double_quoted_promql_string() -> None:
    assert hosts_regex(["web-01", "db.lan"]) == "web-01|db\\\\.lan"


# -- soak gates with an injected clock ---------------------------------------------------------


def test_soak_passes_when_no_host_newly_fails_and_fails_when_one_does() -> None:
    inventory = loopback_inventory(*WAVE)
    clock = FakeClock()
    soak = gate(type="soak", duration="5m", interval="1m")
    result = check_gate(soak, context(inventory, WAVE, clock, failures=lambda: 2))
    assert result.passed, result.detail
    assert result.detail == "300s without new failures"
    assert clock.slept == [60.0] * 5
    assert result.duration_seconds == 300.0

    failed_hosts = [1]
    clock = FakeClock(on_sleep=lambda n: failed_hosts.append(2) if n == 3 else None)
    grown = check_gate(soak, context(inventory, WAVE, clock, failures=lambda: failed_hosts[-1]))
    assert not grown.passed
    assert grown.detail == "1 more failed host after 180s"
    assert clock.slept == [60.0] * 3

    clock = FakeClock(cancel_after=1)
    stopped = check_gate(soak, context(inventory, WAVE, clock))
    assert not stopped.passed and stopped.detail == "cancelled after 60s of the soak"


def test_soak_rechecks_the_waves_other_gates(health: HealthServer) -> None:
    health.endpoints["/health"] = Endpoint(200)
    inventory = loopback_inventory(*WAVE)
    probe = gate(type="http", url=health.url + "/health")
    soak = gate(type="soak", duration=120, interval=30, recheck=True)

    clock = FakeClock()
    calm = check_gate(soak, context(inventory, WAVE, clock, gates=(probe, soak)))
    assert calm.passed and calm.detail == "120s without new failures; rechecked 1 gate 4 times"
    assert len(health.requests) == 4

    clock = FakeClock(on_sleep=lambda n: health.endpoints.__setitem__(
        "/health", Endpoint(503 if n >= 2 else 200)))
    flaky = check_gate(soak, context(inventory, WAVE, clock, gates=(probe, soak)))
    assert not flaky.passed
    assert flaky.detail == (f"http: {health.url}/health failed after 60s: "
                            f"{health.url}/health: HTTP 503, expected 2xx")


# -- the documented examples -------------------------------------------------------------------


def test_every_example_in_docs_gates_md_is_a_valid_gate() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "gates.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", text, re.S)
    kinds = []
    for block in blocks:
        keys = "\n".join(line for line in block.splitlines() if not line.startswith("[["))
        kinds.append(gate(**tomllib.loads(keys)).type)
    assert kinds == ["command", "http", "promql", "soak"]


def test_a_gate_url_that_is_not_http_is_refused_without_being_shown(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(
        '[source]\nurl = "file:///srv/infra.git"\n\n'
        '[[deployment]]\nname = "app"\ninventory = "inventory.py"\ndeploys = ["deploy.py"]\n\n'
        '[deployment.rollout]\n[[deployment.rollout.waves]]\ngroup = "canary"\n\n'
        '[[deployment.rollout.gates]]\ntype = "promql"\nquery = "up"\n'
        f'url = "ftp://metrics:{SECRET}@prometheus.example/"\n')
    with pytest.raises(ConfigError) as refused:
        load_config(config, env={})
    assert "rollout.gates[0].promql.url`: is not an http(s) URL" in str(refused.value)
    assert SECRET not in str(refused.value)
