"""What Prometheus and a supervisor poll: /metrics, /healthz and /readyz, open to anyone who
can reach the port (they carry no secrets and change nothing)."""

from __future__ import annotations

from agent.http.exchange import Backend, Reply, Request
from agent.metrics import CONTENT_TYPE


def metrics(backend: Backend, request: Request) -> Reply:
    """GET /metrics: the Prometheus text exposition."""
    return Reply(200, backend.metrics.exposition(), CONTENT_TYPE)


def healthz(backend: Backend, request: Request) -> Reply:
    """GET /healthz: 200 while the agent can do its job, 503 with the reasons when a part of
    it stopped (the same check that gates systemd's watchdog pings), so a liveness probe
    restarts it."""
    problems = backend.problems() if backend.problems is not None else []
    if problems:
        return Reply.json(503, {"status": "unhealthy", "problems": problems})
    return Reply.json(200, {"status": "ok"})


def readyz(backend: Backend, request: Request) -> Reply:
    """GET /readyz: 503 until the daemon says it is ready, with its reason either way."""
    ready, reason = backend.ready()
    return Reply.json(200 if ready else 503, {"ready": bool(ready), "reason": reason})
