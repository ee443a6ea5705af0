"""What a route handler is given and what it gives back: the request, the daemon's side of the
endpoints (`Backend`), and a `Reply` or an `HTTPError`.

Handlers never write to the socket; agent.http.server does, once, so a failing handler can
never leave half an answer behind, and handlers can be called without a server.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Protocol, TypeVar

from agent.http.ratelimit import RateLimiter
from agent.http.replays import DeliveryLog
from agent.http.webhooks import PreviewEvent, PushEvent

if TYPE_CHECKING:
    from agent.metrics import Metrics

MAX_BODY = 10 * 1024 * 1024
"""Push payloads of big pushes reach a few MiB; anything beyond this is refused with 413."""
DEFAULT_RUNS_LIMIT = 50
_DIGITS = re.compile(r"[0-9]+")

T = TypeVar("T")


class RunsSource(Protocol):
    """Read access to run history; agent.state.StateDB satisfies it as it is."""

    def list_runs(self, deployment: str | None = None, limit: int = DEFAULT_RUNS_LIMIT
                  ) -> list[Any]:
        """Newest first; dicts or dataclass rows."""

    def get_run(self, run_id: int) -> Any:
        """The run (a dict or a dataclass row) or None; ids are positive SQLite integers."""


ReadyCheck = Callable[[], tuple[bool, str]]
ProblemsCheck = Callable[[], list[str]]
TriggerCallback = Callable[..., Any]
"""on_trigger(deployment or None[, override_window=reason])."""
RollbackCallback = Callable[[str, str | None], Any]
"""on_rollback(deployment, commit or None for the last good one)."""
PushCallback = Callable[[PushEvent | PreviewEvent], Any]


@dataclass(frozen=True)
class Backend:
    """The daemon's side, handed in as callbacks and data: this package never imports the
    daemon, and a callback only enqueues, so a request returns in milliseconds."""

    metrics: Metrics
    ready: ReadyCheck
    problems: ProblemsCheck | None = None
    runs: RunsSource | None = None
    on_trigger: TriggerCallback | None = None
    on_push: PushCallback | None = None
    on_rollback: RollbackCallback | None = None
    token: str | None = None
    webhook_secrets: Mapping[str, str | None] = field(default_factory=dict)
    limiter: RateLimiter | None = None
    """None: no rate limit on the routes that start work."""
    deliveries: DeliveryLog = field(default_factory=DeliveryLog)


class HTTPError(Exception):
    """A caller's mistake, answered as {"error": message}; `close` drops the connection when
    an unread body would otherwise be taken for the next request."""

    def __init__(self, status: int, message: str, *,
                 headers: Mapping[str, str] | None = None, close: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})
        self.close = close


@dataclass(frozen=True)
class Reply:
    """An answer for the server to write; every one is JSON except /metrics."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    close: bool = False

    @classmethod
    def json(cls, status: int, obj: Any, headers: Mapping[str, str] | None = None,
             close: bool = False) -> Reply:
        body = json.dumps(obj, default=str).encode() + b"\n"
        return cls(status, body, headers=dict(headers or {}), close=close)

    @classmethod
    def error(cls, error: HTTPError) -> Reply:
        return cls.json(error.status, {"error": error.message}, error.headers, error.close)


class Request:
    """One request as a handler sees it; the body is read only by a handler that wants it,
    so a route that refuses early never waits on a slow upload."""

    def __init__(self, method: str, target: str, headers: Mapping[str, str],
                 rfile: IO[bytes], client: str = "") -> None:
        split = urllib.parse.urlsplit(target)
        self.method = method
        self.client = client
        """The peer's address, what a rate limit counts by."""
        self.target = target
        self.path = split.path
        self.query = urllib.parse.parse_qs(split.query)
        self.headers = headers
        self._rfile = rfile
        self._body: bytes | None = None

    def body(self) -> bytes:
        """The body, or HTTPError for one the agent will not read (chunked, too big)."""
        if self._body is None:
            self._body = self._read_body()
        return self._body

    def unread(self) -> bool:
        """Whether a body was announced and never read: the connection must then close, or
        its bytes would be parsed as the next request."""
        if self._body is not None:
            return False
        return (self.headers.get("Content-Length", "0").strip("0") != ""
                or self.headers.get("Transfer-Encoding") is not None)

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None:
            if self.headers.get("Transfer-Encoding"):
                raise HTTPError(411, "send a Content-Length", close=True)
            return b""
        if not _DIGITS.fullmatch(length):  # str.isdigit() also takes "²", which int() refuses
            raise HTTPError(400, "bad Content-Length", close=True)
        if len(length.lstrip("0")) > len(str(MAX_BODY)) or int(length) > MAX_BODY:
            raise HTTPError(413, f"body larger than {MAX_BODY} bytes", close=True)
        return self._rfile.read(int(length))


Handler = Callable[..., Reply]
"""handler(backend, request, **groups of the route's pattern) -> Reply, or raise HTTPError."""


def by_class(table: Mapping[type[BaseException], T], error: BaseException) -> T:
    """The entry for the error's most specific class in the table, so a subclass that
    nobody mapped yet falls back to its parent's answer instead of a 500."""
    for cls in type(error).__mro__:
        if cls in table:
            return table[cls]
    raise KeyError(type(error).__name__)
