"""The /hooks/PROVIDER endpoints: read the body, let agent.http.webhooks decide what it is,
count the outcome on pullinfra_webhook_requests_total, and hand a push (or a pull / merge
request to preview) to the daemon.

Every outcome a provider can cause is counted, so a misconfigured secret shows on a
dashboard as `unauthorized` rather than as silence. A verified push whose delivery id was
seen lately (agent.http.replays) is answered but handed on no more: `replayed`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from agent.http import webhooks
from agent.http.exchange import Backend, HTTPError, Reply, Request, by_class

REJECTIONS: Mapping[type[BaseException], tuple[int, str]] = MappingProxyType({
    webhooks.Unauthorized: (401, "unauthorized"),
    webhooks.BadRequest: (400, "bad_request"),
    webhooks.WebhookRejected: (400, "bad_request"),
})
"""A rejected webhook's status code and its `result` label on the webhook counter."""


def receive(backend: Backend, request: Request, provider: str) -> Reply:
    """POST /hooks/PROVIDER: 202 for a push handed on, 200 for an event that is no push."""
    event = _read(backend, request, provider)
    if isinstance(event, webhooks.Ignored):
        backend.metrics.count_webhook(provider, "ignored")
        return Reply.json(200, {"status": "ignored", "event": event.event})
    if backend.on_push is None:
        raise HTTPError(503, "webhooks are not available")
    if not backend.deliveries.first_time(provider, event.delivery):
        backend.metrics.count_webhook(provider, "replayed")
        return Reply.json(200, {"status": "ignored", "reason": "duplicate delivery"})
    taken = backend.on_push(event)
    if isinstance(event, webhooks.PreviewEvent):
        if taken is False:  # no [preview] enabled for this provider
            backend.metrics.count_webhook(provider, "ignored")
            return Reply.json(200, {"status": "ignored",
                                    "reason": f"previews of {provider} requests are off"})
        backend.metrics.count_webhook(provider, "accepted")
        return Reply.json(202, {"status": "accepted", "request": event.number,
                                "revision": event.head})
    backend.metrics.count_webhook(provider, "accepted")
    return Reply.json(202, {"status": "accepted", "ref": event.ref, "revision": event.revision})


def unknown(backend: Backend, request: Request) -> Reply:
    """POST /hooks/ANYTHING-ELSE: a 404 that names the endpoints that exist."""
    raise HTTPError(404, f"no webhook endpoint {request.target!r}; use /hooks/github, "
                         "/hooks/gitlab or /hooks/gitea")


def _read(backend: Backend, request: Request, provider: str
          ) -> webhooks.Event:
    try:
        body = request.body()
    except HTTPError:
        backend.metrics.count_webhook(provider, "bad_request")
        raise
    secret = backend.webhook_secrets.get(provider)
    try:
        return webhooks.PARSERS[provider](request.headers, body, secret)
    except webhooks.WebhookRejected as exc:
        status, result = by_class(REJECTIONS, exc)
        backend.metrics.count_webhook(provider, result)
        raise HTTPError(status, exc.message) from None
