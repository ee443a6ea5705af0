"""The agent's network surface as an attacker meets it: size and header limits, idle
connections, odd ids, floods of unknown paths and bad signatures, the per-address rate
limit, the webhook replay guard and the metrics-only listener.

The HTTP server is exercised in-process over real sockets where it is the thing under test;
what needs the daemon (one run for many webhooks, what a webhook can make it apply, config
and state errors at start-up) runs a real `pullinfra agent` on an `@local` inventory.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.client import HTTPConnection
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.http import AgentHTTPServer, RateLimiter
from agent.http.ratelimit import source_of
from agent.http.replays import DeliveryLog
from agent.metrics import Metrics
from tests.acceptance_agent import conftest as acceptance
from tests.acceptance_agent.harness import API_TOKEN, WEBHOOK_SECRET, Agent, clean_env, to_toml
from tests.agent.gitfixtures import Remote, git
from tests.agent.process import PULLINFRA
from tests.agent.receivers import free_port, http
from tests.agent.test_http import PUSH, SECRETS, TOKEN, Daemon, auth, signed
from tests.polling import wait_for

remote = acceptance.remote  # a real git remote, and agents stopped by pid at teardown
make_agent = acceptance.make_agent


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def daemon() -> Daemon:
    return Daemon()


def serve(daemon: Daemon, metrics: Metrics, **options: object) -> AgentHTTPServer:
    return AgentHTTPServer(
        "127.0.0.1:0", metrics, token=TOKEN, webhook_secrets=SECRETS,
        ready=lambda: daemon.ready, runs=daemon, on_trigger=daemon.trigger,
        on_push=daemon.pushes.append, **options)  # type: ignore[arg-type]


@pytest.fixture
def server(daemon: Daemon) -> Iterator[AgentHTTPServer]:
    with serve(daemon, Metrics()) as s:
        yield s


def raw(server: AgentHTTPServer, data: bytes, timeout: float = 20.0) -> bytes:
    """Send bytes on a fresh connection and read until the server closes it."""
    with socket.create_connection((server.host, server.port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def series(metrics: Metrics) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    return {(s.name, tuple(sorted(s.labels.items())))
            for family in text_string_to_metric_families(metrics.exposition().decode())
            for s in family.samples}


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return s.value
    raise AssertionError(f"no series {name}{labels}")


def healthy(server: AgentHTTPServer) -> bool:
    return http("GET", server.url + "/healthz", timeout=20)[0] == 200


# ---- limits that already held ----

def test_a_12_mb_webhook_body_is_413_and_the_connection_closes(server: AgentHTTPServer,
                                                               daemon: Daemon) -> None:
    size = 12 * 1024 * 1024
    answer = raw(server, b"POST /hooks/github HTTP/1.1\r\nHost: agent\r\n"
                         b"Content-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % size + b"{" * 4096)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 "), head
    assert b"Connection: close" in head
    assert "larger than" in json.loads(body)["error"]
    assert daemon.pushes == []
    assert healthy(server)


def test_300_idle_connections_do_not_stop_healthz(server: AgentHTTPServer) -> None:
    idle = [socket.create_connection((server.host, server.port), timeout=20)
            for _ in range(300)]
    try:
        idle[0].sendall(b"GET /healthz HTTP/1.1\r\n")  # and one stalled mid-request
        assert healthy(server)
        assert http("GET", server.url + "/metrics", timeout=20)[0] == 200
    finally:
        for sock in idle:
            sock.close()


def test_a_64_kb_header_is_refused_and_the_server_stays_healthy(server: AgentHTTPServer
                                                                ) -> None:
    long_line = b"X-Filler: " + b"a" * (64 * 1024) + b"\r\n"
    answer = raw(server, b"GET /healthz HTTP/1.1\r\nHost: agent\r\n" + long_line + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(200))
    answer = raw(server, b"GET /healthz HTTP/1.1\r\nHost: agent\r\n" + many + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]
    assert healthy(server)


def test_unknown_paths_and_bad_signatures_add_no_series(daemon: Daemon) -> None:
    metrics = Metrics()
    with serve(daemon, metrics) as s:  # no rate limit: every request reaches its handler
        before = series(metrics)
        conn = HTTPConnection(s.host, s.port, timeout=20)
        statuses: dict[int, int] = {}
        for i in range(1500):
            method, path = [("GET", f"/x{i}"), ("POST", f"/hooks/p{i}"), ("GET", f"/api/{i}"),
                            ("HEAD", f"/metrics/{i}"), ("POST", f"/hooks/github/{i}")][i % 5]
            conn.request(method, path, body=b"" if method == "POST" else None)
            response = conn.getresponse()
            response.read()
            statuses[response.status] = statuses.get(response.status, 0) + 1
        assert statuses == {404: 1500}
        refused = []
        for i in range(300):
            provider = ("github", "gitlab", "gitea")[i % 3]
            headers = signed(provider, PUSH, secret=f"wrong-{i}")
            headers[{"github": "X-GitHub-Delivery", "gitlab": "X-Gitlab-Event-UUID",
                     "gitea": "X-Gitea-Delivery"}[provider]] = f"forged-{i}"
            conn.request("POST", f"/hooks/{provider}", body=PUSH, headers=headers)
            response = conn.getresponse()
            response.read()
            refused.append(response.status)
        conn.close()
        assert set(refused) <= {401, 403} and len(refused) == 300
        assert series(metrics) == before
        assert sum(sample(metrics, "pullinfra_webhook_requests_total", provider=p,
                          result="unauthorized") for p in SECRETS) == 300
    assert daemon.pushes == []


ODD_RUN_IDS = ["99999999999999999999999", "9223372036854775808", "0", "-1", "1.5", "1e3",
               "abc", "%C2%B2", "%D9%A3", "%00", "%2F", "1%20", "+1", "0x10", "9" * 5000]
ODD_LIMITS = ["0", "-1", "1001", "lots", "1.5", "%C2%B2", "9" * 5000, "%00"]


def test_odd_run_ids_and_limits_are_4xx_never_500(metrics: Metrics, tmp_path: Path) -> None:
    from agent.state import StateDB

    with StateDB(tmp_path / "state.db") as db, \
            AgentHTTPServer("127.0.0.1:0", metrics, token=TOKEN, runs=db) as s:
        run_id = db.start_run("web", "poll", "apply", "c" * 40)
        for odd in ODD_RUN_IDS:
            status, _, body = http("GET", f"{s.url}/api/runs/{odd}", headers=auth())
            assert status == 400, (odd, status, body)
        for odd in ODD_LIMITS:
            status, _, body = http("GET", f"{s.url}/api/runs?limit={odd}", headers=auth())
            assert status == 400, (odd, status, body)
        assert http("GET", f"{s.url}/api/runs/9223372036854775807", headers=auth())[0] == 404
        assert http("GET", f"{s.url}/api/runs/{run_id}", headers=auth())[0] == 200
        assert http("GET", f"{s.url}/api/runs?limit=1000", headers=auth())[0] == 200
        for length in ("\xb2", "9" * 5000, "-1"):
            answer = raw(s, f"POST /api/trigger HTTP/1.1\r\nHost: a\r\nContent-Length: "
                            f"{length}\r\n\r\n".encode("latin-1"))
            assert answer.split(b" ", 2)[1] in (b"400", b"413"), (length, answer[:80])


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


def test_an_unread_body_closes_the_connection(server: AgentHTTPServer) -> None:
    """A body the agent did not read is never taken for the next request (smuggling)."""
    inner = b"GET /healthz HTTP/1.1\r\nHost: agent\r\n\r\n"
    answer = raw(server, b"POST /nope HTTP/1.1\r\nHost: agent\r\nContent-Length: %d\r\n\r\n"
                 % len(inner) + inner)
    assert answer.startswith(b"HTTP/1.1 404 ")
    assert answer.count(b"HTTP/1.1 ") == 1, answer


# ---- the rate limit ----

def test_the_rate_limit_answers_429_with_retry_after_per_endpoint(daemon: Daemon) -> None:
    clock, metrics = Clock(), Metrics()
    limiter = RateLimiter(per_minute=30, burst=3, clock=clock)
    with serve(daemon, metrics, limiter=limiter) as s:
        def trigger() -> tuple[int, dict[str, str], bytes]:
            return http("POST", s.url + "/api/trigger", body=b"", headers=auth())

        assert [trigger()[0] for _ in range(3)] == [202, 202, 202]
        status, headers, body = trigger()
        assert (status, headers["Retry-After"]) == (429, "2")
        assert "too many requests" in json.loads(body)["error"]
        # Wrong tokens cost the same: the limit comes before the token check.
        assert http("POST", s.url + "/api/trigger", body=b"", headers=auth("x"))[0] == 429
        # The webhook bucket is apart, and probes are never limited.
        assert http("POST", s.url + "/hooks/github", body=PUSH,
                    headers=signed("github", PUSH))[0] == 202
        assert all(healthy(s) for _ in range(10))
        clock.now += 2.0
        assert trigger()[0] == 202
        assert trigger()[0] == 429
    assert len(daemon.triggers) == 4
    assert sample(metrics, "pullinfra_http_rate_limited_total", endpoint="trigger") == 3
    assert sample(metrics, "pullinfra_http_rate_limited_total", endpoint="webhook") == 0


def test_rate_limit_buckets_are_bounded_and_refilled_ones_dropped() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=2, max_sources=100, clock=clock)
    for i in range(1000):
        assert limiter.check("webhook", f"198.18.{i // 256}.{i % 256}") == 0.0
    assert len(limiter) == 100
    clock.now += 2.0  # every bucket is full again, so none is worth keeping
    assert limiter.check("webhook", "198.19.0.1") == 0.0
    assert len(limiter) == 1
    assert limiter.check("webhook", "198.19.0.1") == 0.0
    assert limiter.check("webhook", "198.19.0.1") == pytest.approx(1.0)
    assert limiter.check("trigger", "198.19.0.1") == 0.0  # scopes are apart


def test_ipv6_callers_share_their_64_and_mapped_ipv4_is_ipv4() -> None:
    assert source_of("2001:db8:1:2:aaaa::1") == source_of("2001:db8:1:2:bbbb::9")
    assert source_of("2001:db8:1:2::1") != source_of("2001:db8:1:3::1")
    assert source_of("::ffff:198.18.0.7") == "198.18.0.7"
    assert source_of("not an address") == "not an address"
    limiter = RateLimiter(per_minute=1, burst=1, clock=Clock())
    assert limiter.check("webhook", "2001:db8::1") == 0.0
    assert limiter.check("webhook", "2001:db8::2") > 0


# ---- the replay guard ----

@pytest.mark.parametrize("provider", ["github", "gitlab", "gitea"])
def test_a_replayed_delivery_is_answered_and_starts_nothing(daemon: Daemon,
                                                            provider: str) -> None:
    metrics = Metrics()
    with serve(daemon, metrics) as s:
        def post(headers: dict[str, str]) -> tuple[int, dict]:
            status, _, body = http("POST", f"{s.url}/hooks/{provider}", body=PUSH,
                                   headers=headers)
            return status, json.loads(body)

        delivery = signed(provider, PUSH)
        assert post(delivery)[0] == 202
        assert post(delivery) == (200, {"status": "ignored", "reason": "duplicate delivery"})
        # A forged request cannot mark an id as seen: the real one with it still goes on.
        forged = signed(provider, PUSH, secret="wrong")
        fresh = {k: ("d-2" if v == "d-1" else v) for k, v in delivery.items()}
        forged = {k: ("d-2" if v == "d-1" else v) for k, v in forged.items()}
        assert post(forged)[0] == 401
        assert post(fresh)[0] == 202
    assert [event.delivery for event in daemon.pushes] == ["d-1", "d-2"]
    assert sample(metrics, "pullinfra_webhook_requests_total", provider=provider,
                  result="replayed") == 1
    assert sample(metrics, "pullinfra_webhook_requests_total", provider=provider,
                  result="accepted") == 2


def test_gitlab_retries_are_known_by_their_idempotency_key(server: AgentHTTPServer,
                                                           daemon: Daemon) -> None:
    headers = signed("gitlab", PUSH)
    for uuid in ("event-1", "event-2"):  # a retry may carry a new event UUID, same key
        headers |= {"X-Gitlab-Event-UUID": uuid, "Idempotency-Key": "key-1"}
        http("POST", server.url + "/hooks/gitlab", body=PUSH, headers=headers)
    assert [event.delivery for event in daemon.pushes] == ["key-1"]


def test_the_delivery_log_forgets_by_age_and_count() -> None:
    clock = Clock()
    log = DeliveryLog(window=60.0, capacity=3, clock=clock)
    assert [log.first_time("github", d) for d in ("a", "b", "a")] == [True, True, False]
    assert log.first_time("gitea", "a")  # providers are apart
    assert log.first_time("github", None) and log.first_time("github", None)
    clock.now += 61
    assert log.first_time("github", "a")
    assert len(log) == 1
    for d in ("b", "c", "d", "e"):
        log.first_time("github", d + "x" * 10_000)
    assert len(log) == 3
    assert log.first_time("github", "a")  # pushed out by count


# ---- the metrics listener ----

def test_the_metrics_listener_serves_metrics_and_healthz_only(daemon: Daemon) -> None:
    with serve(daemon, Metrics(), metrics_listen="127.0.0.1:0") as s:
        scrape = s.metrics_url
        assert scrape is not None and scrape != s.url
        assert http("GET", scrape + "/metrics")[0] == 200
        assert http("GET", scrape + "/healthz")[0] == 200
        for method, path in (("GET", "/api/runs"), ("GET", "/api/runs/1"), ("GET", "/readyz"),
                             ("POST", "/api/trigger"), ("POST", "/hooks/github")):
            headers = auth() if path.startswith("/api") else signed("github", PUSH)
            status, _, _ = http(method, scrape + path, headers=headers,
                                body=PUSH if method == "POST" else None)
            assert status == 404, (method, path)
        assert http("GET", s.url + "/metrics")[0] == 200  # the main listener keeps it
        assert http("GET", s.url + "/api/runs", headers=auth())[0] == 200
    assert daemon.triggers == [] and daemon.pushes == []


# ---- the whole agent ----

LOCAL_DEPLOY = """from pyinfra.operations import files

files.directory(name="out dir", path={out!r})
files.put(name="put marker", src="files/marker", dest={out!r} + "/marker")
"""


def local_tree(out: Path, marker: str) -> dict[str, str]:
    return {"inventory.py": 'here = ["@local"]\n', "deploy.py": LOCAL_DEPLOY.format(out=str(out)),
            "files/marker": marker + "\n"}


def start_agent(make_agent: Callable[..., Agent], remote: Remote, **http_options: object
                ) -> Agent:
    agent = make_agent(url=remote.url, poll_interval="3600s")
    agent.config["http"].update(http_options)
    agent.config_path.write_text(to_toml(agent.config))
    agent.start()
    agent.wait_ready()
    return agent


def github_push(agent: Agent, revision: str, delivery: str, ref: str = "refs/heads/main",
                secret: str = WEBHOOK_SECRET) -> int:
    body = json.dumps({"ref": ref, "after": revision,
                       "repository": {"full_name": "acme/fleet"}}).encode()
    headers = signed("github", body, secret=secret) | {"X-GitHub-Delivery": delivery}
    return agent.post("/hooks/github", body, headers)[0]


def fetches(agent: Agent) -> float:
    return agent.scrape().sum("pullinfra_source_fetch_total")


def settled_fetches(agent: Agent) -> float:
    """The fetch count once it stopped moving for a second (webhooks fetch on threads)."""
    seen = [fetches(agent)]

    def still() -> bool:
        time.sleep(1.0)
        seen.append(fetches(agent))
        return seen[-1] == seen[-2]

    wait_for(still, 60, "the agent's fetches to settle", interval=0)
    return seen[-1]


def test_agent_many_webhooks_one_run_replays_and_off_branch_commits(
        remote: Remote, make_agent: Callable[..., Agent], tmp_path: Path) -> None:
    out = tmp_path / "out"
    base = remote.commit_and_push(local_tree(out, "base"), "base")
    agent = start_agent(make_agent, remote)
    agent.wait_finished(base)
    pushed = remote.commit_and_push(local_tree(out, "pushed"), "pushed, then announced 40x")

    # 40 valid deliveries of one push, at once: every one accepted, one run of the commit.
    answers: list[int] = []
    threads = [threading.Thread(target=lambda i=i: answers.append(
        github_push(agent, pushed, f"delivery-{i}"))) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert answers == [202] * 40
    assert agent.wait_finished(pushed)["trigger"] == "webhook"
    before = settled_fetches(agent)
    assert len([r for r in agent.runs() if r["revision"] == pushed]) == 1, agent.describe()
    assert (out / "marker").read_text() == "pushed\n"

    # The same delivery again: answered, counted, nothing fetched.
    assert github_push(agent, pushed, "delivery-7") == 200
    scrape = agent.scrape()
    assert scrape.sum("pullinfra_webhook_requests_total", result="replayed") == 1
    assert scrape.sum("pullinfra_webhook_requests_total", result="accepted") == 40
    assert settled_fetches(agent) == before

    # A signed webhook naming a commit that is not on the branch: it only makes the agent
    # fetch its own branch, so nothing from off the branch is applied.
    off = remote.commit({"files/marker": "off-branch\n"}, "not on main")
    git("push", "--quiet", "origin", "HEAD:refs/heads/elsewhere", cwd=remote.work)
    remote.rewrite_to(pushed)
    for i, ref in enumerate(("refs/heads/main", "refs/heads/elsewhere")):
        assert github_push(agent, off, f"off-{i}", ref=ref) == 202
    wait_for(lambda: fetches(agent) > before, 30, "the off-branch webhooks' fetches")
    settled_fetches(agent)
    assert not [r for r in agent.runs() if r["revision"] == off], agent.describe()
    assert (out / "marker").read_text() == "pushed\n"


def test_agent_rate_limit_and_metrics_listener(remote: Remote,
                                               make_agent: Callable[..., Agent],
                                               tmp_path: Path) -> None:
    remote.commit_and_push(local_tree(tmp_path / "out", "base"), "base")
    scrape_port = free_port()
    agent = start_agent(make_agent, remote, metrics_listen=f"127.0.0.1:{scrape_port}",
                        rate_limit_per_minute=6, rate_limit_burst=5)
    statuses = [github_push(agent, "0" * 40, f"bad-{i}", secret="wrong") for i in range(8)]
    assert statuses[:5] == [401] * 5 and 429 in statuses[5:], statuses
    status, headers, _ = agent.post("/hooks/gitea", b"{}", {})
    assert status == 429 and int(headers["Retry-After"]) >= 1
    # The trigger endpoint has its own bucket.
    assert http("POST", agent.url + "/api/trigger", body=b"", headers=auth(API_TOKEN))[0] == 202

    metrics_url = f"http://127.0.0.1:{scrape_port}"
    status, _, body = http("GET", metrics_url + "/metrics")
    assert status == 200
    limited = [s for f in text_string_to_metric_families(body.decode()) for s in f.samples
               if s.name == "pullinfra_http_rate_limited_total"]
    assert {s.labels["endpoint"]: s.value for s in limited}["webhook"] >= 2
    assert http("GET", metrics_url + "/healthz")[0] == 200
    assert http("GET", metrics_url + "/api/runs", headers=auth(API_TOKEN))[0] == 404
    assert http("POST", metrics_url + "/api/trigger", body=b"", headers=auth(API_TOKEN))[0] == 404
    assert agent.get("/metrics")[0] == 200


# ---- start-up errors ----

def run_agent(config: Path) -> tuple[int, str]:
    done = subprocess.run(
        [str(PULLINFRA), "agent", "--config", str(config)], env=clean_env(), cwd=config.parent,
        capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout + done.stderr


def test_a_mistyped_secret_is_not_echoed_in_the_config_error(tmp_path: Path) -> None:
    secret = "hunter2-do-not-print-me"
    config = tmp_path / "agent.toml"
    config.write_text(f'[source]\nurl = "{tmp_path}"\n[state]\ndir = "state"\n'
                      f'[http]\nwebhook_secert = "{secret}"\ntoken = ["{secret}"]\n'
                      f'[[notify]]\ntype = "webhook"\nurl = "https://x.example"\n'
                      f'secrt = "{secret}"\n')
    code, output = run_agent(config)
    assert code == 2, output
    assert "webhook_secert" in output and "secrt" in output and "http.token" in output
    assert secret not in output
    assert "Traceback" not in output


def test_a_garbage_state_db_is_a_clear_message(tmp_path: Path, remote: Remote) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "state.db").write_bytes(b"not a database, just bytes " * 200)
    config = tmp_path / "agent.toml"
    config.write_text(f'[source]\nurl = "{remote.url}"\n[state]\ndir = "{state}"\n'
                      f'[http]\nlisten = "127.0.0.1:{free_port()}"\n')
    code, output = run_agent(config)
    assert code != 0
    assert "state.db" in output and "not a database" in output, output
    assert "Traceback" not in output


def test_show_refuses_a_run_id_sqlite_cannot_hold(tmp_path: Path) -> None:
    """The CLI's door to the history reads ids as the API does (agent.state.rows)."""
    from agent.state import StateDB

    StateDB(tmp_path / "state" / "state.db").close()
    config = tmp_path / "agent.toml"
    config.write_text(f'[source]\nurl = "{tmp_path}"\n[state]\ndir = "state"\n')
    for odd in ("99999999999999999999999", "\u00b2", "0"):
        done = subprocess.run([str(PULLINFRA), "show", odd, "--config", str(config)],
                              env=clean_env(), capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, (odd, done.stderr)
        assert "is not a run id" in done.stderr and "Traceback" not in done.stderr


def test_a_taken_metrics_port_names_metrics_listen_and_frees_the_main_port(tmp_path: Path
                                                                          ) -> None:
    from agent.config import AgentConfig
    from agent.daemon.parts import AgentError, build_http
    from agent.state import StateDB

    main, taken = free_port(), socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    config = AgentConfig.model_validate({
        "source": {"url": str(tmp_path)},
        "http": {"listen": f"127.0.0.1:{main}",
                 "metrics_listen": f"127.0.0.1:{taken.getsockname()[1]}"}})
    with taken, StateDB(tmp_path / "state.db") as db:
        with pytest.raises(AgentError, match=r"\[http\] metrics_listen = .*cannot listen"):
            build_http(config, Metrics(), db, ready=lambda: (True, ""), problems=list,
                       trigger=lambda name: None, push=lambda event: None)
        with socket.socket() as again:  # the main listener was closed on the way out
            again.bind(("127.0.0.1", main))
