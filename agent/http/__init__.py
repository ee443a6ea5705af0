"""The agent's HTTP endpoints: /metrics /healthz /readyz /api/runs[/ID] /api/trigger /hooks/*.

Handlers never do work themselves: a trigger or a push webhook calls a callback that only
enqueues (the daemon runs the job on its own threads), so a request returns in milliseconds
and a slow run can never hold a connection open. Every answer is JSON except /metrics, and a
caller's mistake (bad token, bad signature, bad JSON) is a 4xx with a short message, never a
traceback.

- server: `AgentHTTPServer`, the routing table and the refusal -> status table
- webhooks: GitHub, GitLab and Gitea webhooks as pure functions (verify, parse)
- ratelimit: a token bucket per source address; replays: delivery ids seen lately
- hooks, api, probes: the endpoints; exchange: what an endpoint is given and returns

Usage::

    server = AgentHTTPServer(
        "127.0.0.1:9469", metrics,
        token="...", webhook_secrets={"github": "...", "gitlab": "...", "gitea": "..."},
        ready=lambda: (True, "ok"), runs=state_db, on_trigger=daemon.trigger,
        on_push=daemon.push_received, limiter=RateLimiter(per_minute=120, burst=60),
        metrics_listen="0.0.0.0:9101",
    )
    server.start(); server.port; ...; server.stop()
"""

from __future__ import annotations

from agent.http.ratelimit import RateLimiter
from agent.http.server import AgentHTTPServer
from agent.http.webhooks import PushEvent
from agent.metrics import WEBHOOK_PROVIDERS

__all__ = ["WEBHOOK_PROVIDERS", "AgentHTTPServer", "PushEvent", "RateLimiter"]
