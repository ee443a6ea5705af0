"""Real HTTP receivers on 127.0.0.1 and sample reports, shared by the report and HTTP tests."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int = 200
    """The status the receiver answered with."""

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An HTTP server that records every request and answers `status` (settable at any time).

    `stop()` then `start()` brings it back on the same port, so a sender configured with its
    URL sees a real outage (connection refused) and a real recovery. `hang()` makes it read
    each request and never answer: a receiver that accepts and stalls. The held requests are
    counted in `hung`, not in `requests`, and closed unanswered at `unhang()`.
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    port: int = 0
    bind: str = "127.0.0.1"
    """Where to listen; a bed's gateway address lets its hosts report to it."""
    requests: list[Received] = field(default_factory=list)
    hung: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._answering = threading.Event()
        self._answering.set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.bind}:{self.port}"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if not receiver._answering.is_set():
                    with receiver._lock:
                        receiver.hung += 1
                    receiver._answering.wait()
                    self.close_connection = True
                    return
                if receiver.delay:
                    time.sleep(receiver.delay)
                with receiver._lock:
                    receiver.requests.append(
                        Received("POST", self.path, dict(self.headers.items()), body,
                                 receiver.status)
                    )
                    status, extra = receiver.status, dict(receiver.headers)
                self.send_response(status)
                for key, value in extra.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = FreeBindHTTPServer((self.bind, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def hang(self) -> None:
        self._answering.clear()

    def unhang(self) -> None:
        self._answering.set()

    def stop(self) -> None:
        self.unhang()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join()
            self._server = None

    def received(self) -> list[Received]:
        with self._lock:
            return list(self.requests)


class FreeBindHTTPServer(ThreadingHTTPServer):
    """IP_FREEBIND: a bed's gateway address exists only while one of its hosts is up."""

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.SOL_IP, getattr(socket, "IP_FREEBIND", 15), 1)
        super().server_bind()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, body: bytes | None = None,
         headers: dict[str, str] | None = None, timeout: float = 10.0
         ) -> tuple[int, dict[str, str], bytes]:
    """One real HTTP request; returns (status, headers, body) for 2xx and errors alike."""
    request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, dict(e.headers.items()), e.read()


def sample_report(run_id: int | str = 1, status: str = "changed", **overrides: Any
                  ) -> dict[str, Any]:
    """A complete, contract-shaped ChangeReport dict (as agent.report.build makes them)."""
    report: dict[str, Any] = {
        "schema": "pullinfra/change-report/v1",
        "run_id": run_id,
        "agent": {"instance": "agent-a", "version": "0.1.0", "shard": "0/1"},
        "deployment": "web",
        "trigger": "poll",
        "mode": "apply",
        "source": {
            "url": "file:///srv/git/infra.git",
            "ref": "main",
            "revision": "3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39",
            "previous_revision": "1111111111111111111111111111111111111111",
            "author": "Ada <ada@example.org>",
            "message": "web: raise worker count",
            "verified": False,
        },
        "started_at": "2024-05-01T12:00:00Z",
        "finished_at": "2024-05-01T12:00:07.5Z",
        "duration_seconds": 7.5,
        "stages": {"setup": 0.1, "connect": 0.4, "prepare": 1.0, "execute": 5.8,
                   "disconnect": 0.2},
        "status": status,
        "summary": {
            "hosts": {"total": 3, "changed": 1, "unchanged": 1, "failed": 1, "unreachable": 0},
            "operations": {"changed": 2, "unchanged": 5, "skipped": 0, "failed": 1},
        },
        "hosts": [
            {"name": "web1", "status": "changed", "error": None, "operations": [
                {"name": "files.put /etc/app.conf", "status": "changed",
                 "commands": ["install -m 644 /tmp/x /etc/app.conf"],
                 "diff": "-workers=2\n+workers=4\n", "stderr_tail": None, "exit_code": 0,
                 "duration_seconds": 0.3},
            ]},
            {"name": "web2", "status": "unchanged", "error": None, "operations": []},
            {"name": "web3", "status": "failed",
             "error": "deploy.py:12: apt.packages failed: E: Unable to locate package nginxx",
             "operations": [
                 {"name": "apt.packages", "status": "failed",
                  "commands": ["apt-get install -y nginxx"], "diff": None,
                  "stderr_tail": "E: Unable to locate package nginxx",
                  "exit_code": 100, "duration_seconds": 1.2},
             ]},
        ],
    }
    report.update(overrides)
    return report
