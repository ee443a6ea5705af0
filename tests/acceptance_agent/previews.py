"""The repository a preview test proposes changes to, and a fake forge that plays the GitHub
and GitLab APIs on loopback (statuses, comments created and edited, pull-request lookups)."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from tests.acceptance_agent.fleet import APP, tree
from tests.agent.receivers import FreeBindHTTPServer
from tests.testbed import Host

SECRET = "pv-Secret-4711-token"
"""Host data rendered into a template by the head: must show as *** in every preview."""


def base_tree(hosts: Sequence[Host]) -> dict[str, str]:
    """The base: the acceptance deploy, with a secret in group data that nothing uses yet."""
    return {**tree(hosts), "group_data/all.py": f'app_token = "{SECRET}"\n'}


def head_tree(hosts: Sequence[Host], version: str = "2", marker: Path | None = None
              ) -> dict[str, str]:
    """A proposed change: a.conf gets a new version and a template renders the secret. With
    `marker`, the deploy writes that file on the machine that loads it (the agent's): a
    trace that its code ran."""
    extra = 'files.template(name="app env", src="files/app.env.j2", dest="' + APP + \
        '/app.env")\n'
    if marker is not None:
        extra = f'open({str(marker)!r}, "w").write("deploy code ran")\n' + extra
    files = {**base_tree(hosts), **tree(hosts, {"a": version})}
    files["deploy.py"] = tree(hosts)["deploy.py"] + extra
    files["files/app.env.j2"] = "APP_TOKEN={{ host.data.app_token }}\n"
    return files


_API_PREFIX = {"gitlab": "/api/v4", "gitea": "/api/v1"}


@dataclass
class Call:
    method: str
    path: str
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Forge:
    """A fake GitHub or GitLab API: records every call, keeps comments, serves requests.

    `pulls` is {number: API answer} for GET .../pulls/N or .../merge_requests/N.
    """

    kind: str  # "github" | "gitlab" | "gitea"
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)
    port: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._next_id = 1000
        self._server: FreeBindHTTPServer | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}" + _API_PREFIX.get(self.kind, "")

    def start(self) -> Forge:
        forge = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, body = forge.handle(self.command, self.path,
                                            json.loads(raw) if raw else None,
                                            dict(self.headers.items()))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = _answer

        self._server = FreeBindHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def handle(self, method: str, path: str, body: Any, headers: dict[str, str]
               ) -> tuple[int, Any]:
        with self._lock:
            self.calls.append(Call(method, path, body, headers))
            parts = path.strip("/").split("/")
            if self.kind in _API_PREFIX:
                parts = parts[2:]  # api/v4, api/v1
            if method == "GET" and len(parts) in (4, 5) and parts[-2] in (
                    "pulls", "merge_requests"):
                pull = self.pulls.get(int(parts[-1]))
                return (200, pull) if pull else (404, {"message": "Not Found"})
            if method == "GET" and parts[-1].split("?")[0] in ("comments", "notes"):
                number = int(parts[-2])
                return 200, [{"id": c["id"], "body": c["body"]} for c in self.comments.values()
                             if c["number"] == number]
            if method == "POST" and "statuses" in parts:
                return 201, {"state": body.get("state")}
            if method == "POST" and parts[-1] in ("comments", "notes"):
                self._next_id += 1
                number = int(parts[-2])
                self.comments[self._next_id] = {"id": self._next_id, "number": number,
                                                "body": body["body"], "edits": 0}
                return 201, {"id": self._next_id}
            if method in ("PATCH", "PUT") and parts[-2] in ("comments", "notes"):
                comment = self.comments.get(int(parts[-1]))
                if comment is None:
                    return 404, {"message": "Not Found"}
                comment["body"] = body["body"]
                comment["edits"] += 1
                return 200, {"id": comment["id"]}
            return 404, {"message": f"no route {method} {path}"}

    def statuses(self, sha: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [c.body for c in self.calls if c.method == "POST" and "/statuses/" in c.path
                    and (sha is None or c.path.endswith(sha))]

    def all_comments(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(c) for c in self.comments.values()]


def github_pull(number: int, head: str, fork: bool = False, repo: str = "acme/infra"
                ) -> dict[str, Any]:
    head_repo = "mallory/infra" if fork else repo
    return {"number": number, "state": "open",
            "head": {"sha": head, "repo": {"full_name": head_repo}},
            "base": {"sha": "0" * 40, "repo": {"full_name": repo}}}


def gitlab_mr(iid: int, head: str, fork: bool = False) -> dict[str, Any]:
    return {"iid": iid, "state": "opened", "sha": head, "source_project_id": 7 if fork else 42,
            "target_project_id": 42}
