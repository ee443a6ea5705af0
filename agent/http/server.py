"""The agent's HTTP server: a ThreadingHTTPServer on its own thread, and a request handler
that finds its endpoint in `ROUTES` and writes what the endpoint returns.

A caller's mistake is a 4xx with a short JSON message and a daemon's refusal is the status
`REFUSAL_STATUS` gives it; anything else is a logged 500 that shows no traceback.
"""

from __future__ import annotations

import contextlib
import logging
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
    RunsSource,
    TriggerCallback,
    by_class,
)
from agent.http.webhooks import PARSERS
from agent.metrics import WEBHOOK_PROVIDERS, Metrics
from agent.refusals import DeploymentSuspended, Refusal, ShuttingDown, UnknownDeployment

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Route:
    """One row of the routing table. `pattern` must match the whole path, taken as its
    non-empty segments joined by "/" (so "/healthz/" is /healthz); its named groups are
    passed to the handler as keyword arguments. HEAD is served by the GET routes."""

    method: str
    pattern: re.Pattern[str]
    handler: Handler


def _route(method: str, pattern: str, handler: Handler) -> Route:
    return Route(method, re.compile(pattern), handler)


ROUTES: tuple[Route, ...] = (
    _route("GET", r"metrics", probes.metrics),
    _route("GET", r"healthz", probes.healthz),
    _route("GET", r"readyz", probes.readyz),
    _route("GET", r"api/runs", api.list_runs),
    _route("GET", r"api/runs/(?P<run_id>[^/]+)", api.get_run),
    _route("POST", r"api/trigger", api.trigger),
    _route("POST", rf"hooks/(?P<provider>{'|'.join(map(re.escape, PARSERS))})", hooks.receive),
    _route("POST", r"hooks(/.*)?", hooks.unknown),
)
"""First match wins; a path no row matches is a 404, whatever the method."""

REFUSAL_STATUS: Mapping[type[BaseException], int] = MappingProxyType({
    ShuttingDown: 503, UnknownDeployment: 404, DeploymentSuspended: 409, Refusal: 409})
"""The status of each refusal the daemon raises; a new kind is a 409 until it has a row."""


def respond(backend: Backend, request: Request, routes: tuple[Route, ...] = ROUTES) -> Reply:
    """The reply to one request; a handler's bug propagates, for the caller to log."""
    try:
        handler, groups = _match(routes, request)
        return handler(backend, request, **groups)
    except HTTPError as error:
        return Reply.error(error)
    except Refusal as refusal:
        return Reply.json(by_class(REFUSAL_STATUS, refusal), {"error": refusal.message})


def _match(routes: tuple[Route, ...], request: Request) -> tuple[Handler, dict[str, Any]]:
    method = "GET" if request.method == "HEAD" else request.method
    path = "/".join(part for part in request.path.split("/") if part)
    for route in routes:
        found = route.pattern.fullmatch(path) if route.method == method else None
        if found is not None:
            return route.handler, found.groupdict()
    raise HTTPError(404, f"no such endpoint: {request.path}")


class AgentHTTPServer:
    """The HTTP side of the agent; owns a ThreadingHTTPServer on its own thread."""

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
    ) -> None:
        host, _, port = listen.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"listen {listen!r} is not HOST:PORT")
        for provider in WEBHOOK_PROVIDERS:  # a provider never called still shows as zeros
            metrics.init_webhook_provider(provider)
        backend = Backend(
            metrics=metrics, ready=ready or _not_ready, problems=problems, runs=runs,
            on_trigger=on_trigger, on_push=on_push, token=token or None,
            webhook_secrets=dict(webhook_secrets or {}),
        )
        self._httpd = _Server((host.strip("[]"), int(port)), backend)
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return self._httpd.server_address[0]

    @property
    def port(self) -> int:
        """The bound port (the real one when `listen` asked for port 0)."""
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def serving(self) -> bool:
        """False once the serving thread died: what the watchdog and /healthz must see."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("HTTP server already started")
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
            name="pullinfra-http", daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, and close the socket; in-flight requests finish on their threads."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> AgentHTTPServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _not_ready() -> tuple[bool, str]:
    return False, "no readiness check configured"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], backend: Backend) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.backend = backend
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 15  # a client that stalls mid-request is dropped, not waited on forever
    protocol_version = "HTTP/1.1"

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
        request = Request(self.command, self.path, self.headers, self.rfile)
        try:
            self._write(respond(self.server.backend, request))
        except Exception:
            log.exception("HTTP handler failed on %s %s", self.command, request.path)
            with contextlib.suppress(OSError):
                self._write(Reply.json(500, {"error": "internal error; see the agent's log"}))

    def _write(self, reply: Reply) -> None:
        if reply.close:
            self.close_connection = True
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)
