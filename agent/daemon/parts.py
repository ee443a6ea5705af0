"""The agent's parts that a config describes: the outbox with its notifiers, and the HTTP
server with its callbacks. Built at start and again on reload."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.backoff import Backoff
from agent.config import AgentConfig
from agent.http import WEBHOOK_PROVIDERS, AgentHTTPServer, PushEvent, RateLimiter
from agent.metrics import Metrics
from agent.report.outbox import Notifier, Outbox
from agent.report.senders import build_sender
from agent.state import StateDB


class AgentError(Exception):
    """The agent cannot start with this configuration (port taken, bad notifier...)."""


def build_outbox(config: AgentConfig, db: StateDB, metrics: Metrics) -> Outbox:
    notifiers = []
    for spec in config.notify:
        try:
            sender = build_sender(spec, config.source.url)
        except ValueError as exc:
            raise AgentError(f"[[notify]] {spec.notifier}: {exc}") from None
        notifiers.append(Notifier(spec.notifier, spec.on, sender))
    # Capped at a minute: a receiver back after an hour gets its backlog within a minute.
    return Outbox(db, notifiers, counters=metrics,
                  backoff=Backoff(base=2.0, factor=2.0, cap=60.0, jitter=0.2))


def build_http(config: AgentConfig, metrics: Metrics, db: StateDB, *,
               ready: Callable[[], tuple[bool, str]], problems: Callable[[], list[str]],
               trigger: Callable[..., Any], push: Callable[[PushEvent], Any],
               rollback: Callable[[str, str | None], Any] | None = None) -> AgentHTTPServer:
    http = config.http
    limiter = (RateLimiter(http.rate_limit_per_minute, http.rate_limit_burst)
               if http.rate_limit_per_minute else None)
    try:
        return AgentHTTPServer(
            http.listen, metrics,
            token=http.token.get_secret_value() if http.token else None,
            webhook_secrets={p: http.webhook_secret_for(p) for p in WEBHOOK_PROVIDERS},
            ready=ready, problems=problems, runs=db, on_trigger=trigger, on_push=push,
            on_rollback=rollback,
            limiter=limiter, metrics_listen=http.metrics_listen,
        )
    except OSError as exc:
        key = "listen" if exc.filename in (None, http.listen) else "metrics_listen"
        raise AgentError(f"[http] {key} = {getattr(http, key)!r}: cannot listen there: "
                         f"{exc.strerror or exc}; pick a free address") from None
