"""The agent's HTTP server: a ThreadingHTTPServer on its own thread, and a request handler
that finds its endpoint in `ROUTES` and writes what the endpoint returns.

A caller's mistake is a 4xx with a short JSON message and a daemon's refusal is the status
`REFUSAL_STATUS` gives it; anything else is a logged 500 that shows no traceback. Routes
that start work are rate limited per source address (agent.http.ratelimit) before their
handler runs. An optional second listener serves only `SCRAPE_ROUTES`, so the API can stay
on loopback while Prometheus scrapes from elsewhere.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import MappingProxyType
from typing import Any

from agent.http import api, hooks, probes
from agent.http.exchange import (
    Backend,
    Handler,
    HTTPError,
    ProblemsCheck,
    PushCallback,
    ReadyCheck,
    Reply,
    Request,
    RollbackCallback,
    RunsSource,
    TriggerCallback,
    by_class,
)
from agent.http.ratelimit import RateLimiter
from agent.http.webhooks import PARSERS
from agent.metrics import WEBHOOK_PROVIDERS, Metrics
from agent.refusals import (
    DeploymentSuspended,
    Refusal,
    RollbackRefused,
    ShuttingDown,
    UnknownDeployment,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Route:
    """One row of the routing table. `pattern` must match the whole path, taken as its
    non-empty segments joined by "/" (so "/healthz/" is /healthz); its named groups are
    passed to the handler as keyword arguments. HEAD is served by the GET routes."""

    method: str
    pattern: re.Pattern[str]
    handler: Handler
    limit: str | None = None
    """The rate limit's scope (an endpoint of pullinfra_http_rate_limited_total); None for a
    route that starts no work."""


def _route(method: str, pattern: str, handler: Handler, limit: str | None = None) -> Route:
    return Route(method, re.compile(pattern), handler, limit)


ROUTES: tuple[Route, ...] = (
    _route("GET", r"metrics", probes.metrics),
    _route("GET", r"healthz", probes.healthz),
    _route("GET", r"readyz", probes.readyz),
    _route("GET", r"api/runs", api.list_runs),
    _route("GET", r"api/runs/(?P<run_id>[^/]+)", api.get_run),
    _route("POST", r"api/trigger", api.trigger, limit="trigger"),
    _route("POST", r"api/rollback", api.rollback, limit="trigger"),
    _route("POST", rf"hooks/(?P<provider>{'|'.join(map(re.escape, PARSERS))})", hooks.receive,
           limit="webhook"),
    _route("POST", r"hooks(/.*)?", hooks.unknown),
)
"""First match wins; a path no row matches is a 404, whatever the method."""

SCRAPE_ROUTES: tuple[Route, ...] = tuple(
    route for route in ROUTES if route.handler in (probes.metrics, probes.healthz))
"""What the metrics listener serves: nothing that reads history or starts work."""

REFUSAL_STATUS: Mapping[type[BaseException], int] = MappingProxyType({
    ShuttingDown: 503, UnknownDeployment: 404, DeploymentSuspended: 409,
    RollbackRefused: 400, Refusal: 409})
"""The status of each refusal the daemon raises; a new kind is a 409 until it has a row."""


def respond(backend: Backend, request: Request, routes: tuple[Route, ...] = ROUTES) -> Reply:
    """The reply to one request; a handler's bug propagates, for the caller to log."""
    try:
        route, groups = _match(routes, request)
        _within_rate(backend, route, request)
        return route.handler(backend, request, **groups)
    except HTTPError as error:
        return Reply.error(error)
    except Refusal as refusal:
        return Reply.json(by_class(REFUSAL_STATUS, refusal), {"error": refusal.message})


def _match(routes: tuple[Route, ...], request: Request) -> tuple[Route, dict[str, Any]]:
    method = "GET" if request.method == "HEAD" else request.method
    path = "/".join(part for part in request.path.split("/") if part)
    for route in routes:
        found = route.pattern.fullmatch(path) if route.method == method else None
        if found is not None:
            return route, found.groupdict()
    raise HTTPError(404, f"no such endpoint: {request.path}")


def _within_rate(backend: Backend, route: Route, request: Request) -> None:
    """Raise the 429 of a caller over its rate; counted by endpoint, never by address."""
    if route.limit is None or backend.limiter is None:
        return
    wait = backend.limiter.check(route.limit, request.client)
    if wait > 0:
        backend.metrics.count_rate_limited(route.limit)
        raise HTTPError(429, "too many requests from this address; retry later",
                        headers={"Retry-After": str(max(1, math.ceil(wait)))}, close=True)


class AgentHTTPServer:
    """The HTTP side of the agent; owns a ThreadingHTTPServer per listener, each on its own
    thread: `listen` serves every route, `metrics_listen` (optional) only `SCRAPE_ROUTES`."""

    def __init__(
        self,
        listen: str,
        metrics: Metrics,
        *,
        token: str | None = None,
        webhook_secrets: Mapping[str, str | None] | None = None,
        ready: ReadyCheck | None = None,
        problems: ProblemsCheck | None = None,
        runs: RunsSource | None = None,
        on_trigger: TriggerCallback | None = None,
        on_push: PushCallback | None = None,
        on_rollback: RollbackCallback | None = None,
        limiter: RateLimiter | None = None,
        metrics_listen: str | None = None,
    ) -> None:
        for provider in WEBHOOK_PROVIDERS:  # a provider never called still shows as zeros
            metrics.init_webhook_provider(provider)
        backend = Backend(
            metrics=metrics, ready=ready or _not_ready, problems=problems, runs=runs,
            on_trigger=on_trigger, on_push=on_push, on_rollback=on_rollback,
            token=token or None,
            webhook_secrets=dict(webhook_secrets or {}), limiter=limiter,
        )
        self._httpd = _Server(listen, backend, ROUTES)
        self._scrape: _Server | None = None
        if metrics_listen is not None:
            try:
                self._scrape = _Server(metrics_listen, backend, SCRAPE_ROUTES)
            except BaseException:
                self._httpd.server_close()
                raise
        self._threads: list[threading.Thread] = []

    @property
    def host(self) -> str:
        return self._httpd.server_address[0]

    @property
    def port(self) -> int:
        """The bound port (the real one when `listen` asked for port 0)."""
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return self._httpd.url

    @property
    def metrics_url(self) -> str | None:
        """The metrics listener's URL; None when there is none."""
        return self._scrape.url if self._scrape is not None else None

    @property
    def serving(self) -> bool:
        """False once a serving thread died: what the watchdog and /healthz must see."""
        return bool(self._threads) and all(thread.is_alive() for thread in self._threads)

    def start(self) -> None:
        if self._threads:
            raise RuntimeError("HTTP server already started")
        for name, httpd in (("pullinfra-http", self._httpd), ("pullinfra-metrics", self._scrape)):
            if httpd is None:
                continue
            thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                      name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop accepting, and close the sockets; in-flight requests finish on their threads."""
        servers = [httpd for httpd in (self._httpd, self._scrape) if httpd is not None]
        if self._threads:
            for httpd in servers:
                httpd.shutdown()
            for thread in self._threads:
                thread.join()
            self._threads = []
        for httpd in servers:
            httpd.server_close()

    def __enter__(self) -> AgentHTTPServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _not_ready() -> tuple[bool, str]:
    return False, "no readiness check configured"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's backlog of 5 made a burst of connections (a scrape, a forge's
    # deliveries and a flood at once) wait out SYN retransmits of a second and more.
    request_queue_size = 128

    def __init__(self, listen: str, backend: Backend, routes: tuple[Route, ...]) -> None:
        host, _, port = listen.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"listen {listen!r} is not HOST:PORT")
        host = host.strip("[]")
        if ":" in host:
            self.address_family = socket.AF_INET6
        self.backend = backend
        self.routes = routes
        try:
            super().__init__((host, int(port)), _Handler)
        except OSError as exc:  # the address is what the operator must change
            raise OSError(exc.errno, exc.strerror, listen) from None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 15  # a client that stalls mid-request is dropped, not waited on forever
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle's algorithm on, a kept-alive client
    # (Prometheus, a forge) waited out its delayed ACK, some 40 ms, on every answer.
    disable_nagle_algorithm = True

    def version_string(self) -> str:
        return "pullinfra"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http %s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._answer()

    def do_HEAD(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        request = Request(self.command, self.path, self.headers, self.rfile,
                          client=self.client_address[0])
        try:
            reply = respond(self.server.backend, request, self.server.routes)
        except Exception:
            log.exception("HTTP handler failed on %s %s", self.command, request.path)
            reply = Reply.json(500, {"error": "internal error; see the agent's log"}, close=True)
        with contextlib.suppress(OSError):
            self._write(reply, close=reply.close or request.unread())

    def _write(self, reply: Reply, close: bool) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in reply.headers.items():
            self.send_header(key, value)
        if close:  # also sets close_connection
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)
