"""Real HTTP endpoints for health checks on loopback, and a real Prometheus scraping them.

The gate tests (tests/daemon/test_gates.py) and the agent's rollout acceptance tests
(tests/acceptance_agent/test_gates_agent.py) judge what these answer; a test sets and changes
the answers per path, or computes them from a bed host's files at each request.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.agent.receivers import free_port, http


@dataclass
class Endpoint:
    status: int = 200
    body: bytes = b"ok"
    delay: float = 0.0


class HealthServer:
    """A real HTTP server on 127.0.0.1 whose answers per path a test sets and changes."""

    def __init__(self) -> None:
        # An answer, or a function that computes one at each request.
        self.endpoints: dict[str, Endpoint | Callable[[], Endpoint]] = {}
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                path = urllib.parse.urlsplit(self.path).path
                server.requests.append((self.command, self.path))
                endpoint = server.endpoints.get(path, Endpoint(404, b"no such path"))
                if callable(endpoint):
                    endpoint = endpoint()
                if endpoint.delay:
                    time.sleep(endpoint.delay)
                self.send_response(endpoint.status)
                self.send_header("Content-Length", str(len(endpoint.body)))
                self.end_headers()
                self.wfile.write(endpoint.body)

            do_POST = do_GET

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


class Prometheus:
    """Debian's prometheus on loopback, scraping one target every second."""

    def __init__(self, target_port: int, tmp_path: Path) -> None:
        self.port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
            "scrape_configs:\n"
            "  - job_name: app\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{target_port}']}}]\n"
        )
        self.log_path = tmp_path / "prometheus.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self._log, stderr=subprocess.STDOUT,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def values(self, query: str) -> dict[str, str]:
        """{host label: value} of an instant query; empty while Prometheus starts."""
        q = urllib.parse.quote(query)
        try:
            status, _, raw = http("GET", f"{self.url}/api/v1/query?query={q}", timeout=2)
        except OSError:
            return {}
        if status != 200:  # 503 while Prometheus starts up
            return {}
        return {r["metric"].get("host", ""): r["value"][1]
                for r in json.loads(raw)["data"]["result"]}

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def gauges(values: dict[str, int]) -> Endpoint:
    lines = ["# TYPE app_healthy gauge"]
    lines += [f'app_healthy{{host="{host}"}} {value}' for host, value in values.items()]
    return Endpoint(200, ("\n".join(lines) + "\n").encode())
