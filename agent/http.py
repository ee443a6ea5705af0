"""The agent's HTTP endpoints: /metrics /healthz /readyz /api/runs[/ID] /api/trigger /hooks/*.

Handlers never do work themselves: a trigger or a push webhook calls a callback that only
enqueues (the daemon runs the job on its own threads), so a request returns in milliseconds
and a slow run can never hold a connection open. Every answer is JSON except /metrics, and a
caller's mistake (bad token, bad signature, bad JSON) is a 4xx with a short message, never a
traceback.

Usage::

    server = AgentHTTPServer(
        "127.0.0.1:9469", metrics,
        token="...", webhook_secrets={"github": "...", "gitlab": "...", "gitea": "..."},
        ready=lambda: (True, "ok"), runs=state_db, on_trigger=daemon.trigger,
        on_push=daemon.push_received,
    )
    server.start(); server.port; ...; server.stop()
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import json
import logging
import socket
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from agent.metrics import CONTENT_TYPE, WEBHOOK_PROVIDERS, Metrics
from agent.refusals import DeploymentSuspended, Refusal, ShuttingDown, UnknownDeployment

log = logging.getLogger(__name__)

MAX_BODY = 10 * 1024 * 1024
"""Push payloads of big pushes reach a few MiB; anything beyond this is refused with 413."""
DEFAULT_RUNS_LIMIT = 50
MAX_RUNS_LIMIT = 1000


class RunsSource(Protocol):
    """Read access to run history; agent.state.StateDB satisfies it as it is."""

    def list_runs(self, deployment: str | None = None, limit: int = DEFAULT_RUNS_LIMIT
                  ) -> list[Any]:
        """Newest first; dicts or dataclass rows."""

    def get_run(self, run_id: int | str) -> Any:
        """The run (a dict or a dataclass row) or None; numeric ids are passed as int."""


@dataclass(frozen=True)
class PushEvent:
    """A verified push webhook; the daemon fetches at once and decides what it means."""

    provider: str
    ref: str | None
    revision: str | None
    repository: str | None
    delivery: str | None


class Refused(Exception):
    """Raised by a callback to answer with a clear 4xx (unknown deployment -> 404, ...)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


REFUSAL_STATUS: dict[type[Refusal], int] = {
    ShuttingDown: 503, UnknownDeployment: 404, DeploymentSuspended: 409}

ReadyCheck = Callable[[], tuple[bool, str]]
TriggerCallback = Callable[[str | None], Any]
PushCallback = Callable[[PushEvent], Any]

_EVENT_HEADERS = {"github": "X-GitHub-Event", "gitea": "X-Gitea-Event", "gitlab": "X-Gitlab-Event"}
_PUSH_EVENTS = {"github": {"push"}, "gitea": {"push"}, "gitlab": {"Push Hook", "Tag Push Hook"}}
_DELIVERY_HEADERS = {
    "github": "X-GitHub-Delivery", "gitea": "X-Gitea-Delivery", "gitlab": "X-Gitlab-Event-UUID",
}


def _hmac_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_webhook(provider: str, secret: str | None, headers: Mapping[str, str],
                   body: bytes) -> bool:
    """Whether a webhook request carries a valid signature (or token) for its provider."""
    if not secret:
        return False
    if provider == "github":
        given = headers.get("X-Hub-Signature-256") or ""
        expected = "sha256=" + _hmac_hex(secret, body)
    elif provider == "gitea":
        given = headers.get("X-Gitea-Signature") or ""
        expected = _hmac_hex(secret, body)
    elif provider == "gitlab":
        given = headers.get("X-Gitlab-Token") or ""
        expected = secret
    else:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


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
        runs: RunsSource | None = None,
        on_trigger: TriggerCallback | None = None,
        on_push: PushCallback | None = None,
    ):
        host, _, port = listen.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"listen {listen!r} is not HOST:PORT")
        self.metrics = metrics
        self.ready = ready or (lambda: (False, "no readiness check configured"))
        self.runs = runs
        self.on_trigger = on_trigger
        self.on_push = on_push
        self._token = token or None
        self._webhook_secrets = dict(webhook_secrets or {})
        for provider in WEBHOOK_PROVIDERS:
            metrics.init_webhook_provider(provider)
        self._httpd = _Server((host.strip("[]"), int(port)), _Handler)
        self._httpd.app = self
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

    def check_token(self, authorization: str | None) -> tuple[int, str] | None:
        """None when the bearer token is right, else the (status, message) to answer."""
        if self._token is None:
            return 403, "the API is disabled: set [http] token to enable it"
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), self._token.encode()
        ):
            return 401, "missing or wrong bearer token"
        return None

    def webhook_secret(self, provider: str) -> str | None:
        return self._webhook_secrets.get(provider)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    app: AgentHTTPServer

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 15  # a client that stalls mid-request is dropped, not waited on forever
    protocol_version = "HTTP/1.1"

    def version_string(self) -> str:
        return "pullinfra"

    # ---- plumbing ----

    @property
    def app(self) -> AgentHTTPServer:
        return self.server.app

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http %s %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, content_type: str,
              headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any, headers: Mapping[str, str] | None = None) -> None:
        body = json.dumps(obj, default=str).encode() + b"\n"
        self._send(status, body, "application/json", headers)

    def _error(self, status: int, message: str, headers: Mapping[str, str] | None = None
               ) -> None:
        self._json(status, {"error": message}, headers)

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering 411/413 for an unusable one."""
        length = self.headers.get("Content-Length")
        if length is None:
            if self.headers.get("Transfer-Encoding"):
                self.close_connection = True
                self._error(411, "send a Content-Length")
                return None
            return b""
        if not length.isdigit():
            self.close_connection = True
            self._error(400, "bad Content-Length")
            return None
        if int(length) > MAX_BODY:
            self.close_connection = True
            self._error(413, f"body larger than {MAX_BODY} bytes")
            return None
        return self.rfile.read(int(length))

    def _dispatch(self, routes: Mapping[str, Callable[[list[str]], None]]) -> None:
        path = urllib.parse.urlsplit(self.path).path
        parts = [p for p in path.split("/") if p]
        if parts and parts[0] == "hooks":
            key = "hooks"
        elif len(parts) == 1:
            key = parts[0]
        else:
            key = "/".join(parts[:2])
        handler = routes.get(key)
        try:
            if handler is None:
                self._error(404, f"no such endpoint: {path}")
                return
            handler(parts)
        except Refused as e:
            self._error(e.status, e.message)
        except Refusal as e:
            self._error(REFUSAL_STATUS.get(type(e), 409), e.message)
        except Exception:
            log.exception("HTTP handler failed on %s %s", self.command, path)
            with contextlib.suppress(OSError):
                self._error(500, "internal error; see the agent's log")

    def do_GET(self) -> None:
        self._dispatch({
            "metrics": self._metrics, "healthz": self._healthz, "readyz": self._readyz,
            "api/runs": self._runs,
        })

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_POST(self) -> None:
        self._dispatch({"api/trigger": self._trigger, "hooks": self._hook})

    # ---- endpoints ----

    def _metrics(self, parts: list[str]) -> None:
        self._send(200, self.app.metrics.exposition(), CONTENT_TYPE)

    def _healthz(self, parts: list[str]) -> None:
        self._json(200, {"status": "ok"})

    def _readyz(self, parts: list[str]) -> None:
        ready, reason = self.app.ready()
        self._json(200 if ready else 503, {"ready": bool(ready), "reason": reason})

    def _authorised(self) -> bool:
        problem = self.app.check_token(self.headers.get("Authorization"))
        if problem is None:
            return True
        status, message = problem
        self._error(status, message, {"WWW-Authenticate": "Bearer"} if status == 401 else None)
        return False

    def _runs(self, parts: list[str]) -> None:
        if not self._authorised():
            return
        if self.app.runs is None:
            self._error(503, "run history is not available")
            return
        if len(parts) == 3:
            run_id = urllib.parse.unquote(parts[2])
            run = self.app.runs.get_run(int(run_id) if run_id.isdigit() else run_id)
            if run is None:
                self._error(404, f"no run {run_id!r}")
            else:
                self._json(200, _plain(run))
            return
        if len(parts) > 3:
            self._error(404, "no such endpoint")
            return
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        deployment = query.get("deployment", [None])[0]
        raw_limit = query.get("limit", [str(DEFAULT_RUNS_LIMIT)])[0]
        if not raw_limit.isdigit() or not 0 < int(raw_limit) <= MAX_RUNS_LIMIT:
            self._error(400, f"limit must be an integer from 1 to {MAX_RUNS_LIMIT}")
            return
        runs = self.app.runs.list_runs(deployment, int(raw_limit))
        self._json(200, {"runs": [_plain(run) for run in runs]})

    def _trigger(self, parts: list[str]) -> None:
        if len(parts) != 2:
            self._error(404, "no such endpoint")
            return
        body = self._read_body()
        if body is None or not self._authorised():
            return
        deployment = None
        if body.strip():
            try:
                data = json.loads(body)
            except (json.JSONDecodeError, UnicodeDecodeError):
                self._error(400, 'body must be JSON, e.g. {"deployment": "web"}, or empty')
                return
            if not isinstance(data, dict) or not isinstance(data.get("deployment", ""), str):
                self._error(400, 'body must be an object like {"deployment": "web"}')
                return
            deployment = data.get("deployment") or None
        if self.app.on_trigger is None:
            self._error(503, "triggers are not available")
            return
        result = self.app.on_trigger(deployment)
        answer = {"status": "queued", "deployment": deployment}
        if isinstance(result, Mapping):
            answer.update(result)
        self._json(202, answer)

    def _hook(self, parts: list[str]) -> None:
        provider = parts[1] if len(parts) == 2 else ""
        if provider not in WEBHOOK_PROVIDERS:
            self._error(404, f"no webhook endpoint {self.path!r}; use /hooks/github, "
                             "/hooks/gitlab or /hooks/gitea")
            return
        metrics = self.app.metrics
        body = self._read_body()
        if body is None:
            metrics.count_webhook(provider, "bad_request")
            return
        if not verify_webhook(provider, self.app.webhook_secret(provider), self.headers, body):
            metrics.count_webhook(provider, "unauthorized")
            what = "token" if provider == "gitlab" else "signature"
            self._error(401, f"missing or invalid {provider} webhook {what}")
            return
        event = self.headers.get(_EVENT_HEADERS[provider]) or ""
        if event not in _PUSH_EVENTS[provider]:
            metrics.count_webhook(provider, "ignored")
            self._json(200, {"status": "ignored", "event": event or None})
            return
        payload = _parse_payload(body, self.headers.get("Content-Type") or "")
        if not isinstance(payload, dict):
            metrics.count_webhook(provider, "bad_request")
            self._error(400, "webhook body is not a JSON object")
            return
        if self.app.on_push is None:
            self._error(503, "webhooks are not available")
            return
        push = PushEvent(
            provider=provider,
            ref=_str(payload.get("ref")),
            revision=_str(payload.get("after") or payload.get("checkout_sha")),
            repository=_repository(payload),
            delivery=self.headers.get(_DELIVERY_HEADERS[provider]),
        )
        self.app.on_push(push)
        metrics.count_webhook(provider, "accepted")
        self._json(202, {"status": "accepted", "ref": push.ref, "revision": push.revision})


def _plain(row: Any) -> Any:
    """A run row as JSON-ready data: dataclass rows (agent/state) become dicts."""
    if dataclasses.is_dataclass(row) and not isinstance(row, type):
        return dataclasses.asdict(row)
    return row


def _parse_payload(body: bytes, content_type: str) -> Any:
    """JSON, or GitHub's form encoding (payload=<json>); None when it is neither.

    A form content type with no `payload` field is read as JSON: `curl -d` and urllib label
    any body as a form, and a JSON body is what was meant.
    """
    try:
        if content_type.startswith("application/x-www-form-urlencoded"):
            form = urllib.parse.parse_qs(body.decode())
            if "payload" in form:
                return json.loads(form["payload"][0])
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _repository(payload: dict) -> str | None:
    repo = payload.get("repository") or payload.get("project")
    if not isinstance(repo, dict):
        return None
    for key in ("full_name", "path_with_namespace", "clone_url", "git_http_url"):
        if isinstance(repo.get(key), str):
            return repo[key]
    return None
