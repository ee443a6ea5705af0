"""Bad webhook and API payloads sent to the running agent that watches the bed hosts: each is
answered with a clear 4xx (or, for a replayed delivery, "ignored"), counted, starts no run,
applies nothing, and the agent keeps fetching and stays healthy.

Cases: cases/payloads/cases.toml (one [[case]] table each).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import tomllib
from collections.abc import Iterator
from typing import Any

import pytest

from tests.acceptance_agent.harness import API_TOKEN, WEBHOOK_SECRET, wait_for
from tests.badinput.agents import Watched
from tests.badinput.corpus import CASES
from tests.badinput.repository import good_tree, push_tree

pytestmark = pytest.mark.xdist_group("badinput")

PAYLOADS = tomllib.loads((CASES / "payloads" / "cases.toml").read_text())["case"]


@pytest.fixture(scope="module")
def settled(watched: Watched) -> Iterator[Watched]:
    """The good tree applied again, so no failed commit is left to be retried meanwhile."""
    sha = push_tree(watched.remote, good_tree(watched.hosts), "good again")
    assert watched.agent.wait_finished(sha, timeout=120)["status"] in {"changed", "unchanged"}
    yield watched


def _headers(case: dict[str, Any], body: bytes) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "push",
               "X-GitHub-Delivery": f"badinput-{case['name']}"}
    secret = {"valid": WEBHOOK_SECRET, "wrong": "not-the-webhook-secret"}.get(
        case.get("sign", "none"))
    if secret is not None:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers["X-Hub-Signature-256"] = f"sha256={digest}"
    token = {"valid": API_TOKEN, "wrong": "not-the-api-token"}.get(case.get("auth", "none"))
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _send(port: int, case: dict[str, Any], body: bytes) -> tuple[int, str]:
    """One request on its own connection; with declared_length, the headers alone."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        method = case.get("method", "POST")
        connection.putrequest(method, case["path"])
        for key, value in _headers(case, body).items():
            connection.putheader(key, value)
        length = case.get("declared_length", len(body) if method == "POST" else None)
        if length is not None:
            connection.putheader("Content-Length", str(length))
        connection.endheaders()
        if "declared_length" not in case and method == "POST":
            connection.send(body)
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        connection.close()


def _push_body(watched: Watched) -> str:
    head = watched.remote.head()
    return json.dumps({"ref": "refs/heads/main", "before": "0" * 40, "after": head,
                       "repository": {"full_name": "acme/fleet",
                                      "clone_url": watched.remote.url},
                       "head_commit": {"id": head, "message": "good again"}})


def _webhooks(watched: Watched, result: str) -> float:
    return watched.agent.scrape().sum("pullinfra_webhook_requests_total", provider="github",
                                      result=result)


def _fetches(watched: Watched) -> float:
    return watched.agent.scrape().sum("pullinfra_source_fetch_total")


@pytest.mark.parametrize("case", PAYLOADS, ids=[case["name"] for case in PAYLOADS])
def test_bad_payload_is_refused_clearly_and_starts_nothing(
        case: dict[str, Any], settled: Watched) -> None:
    agent = settled.agent
    body = case.get("body", "").replace("{{PUSH}}", _push_body(settled)).encode()
    runs = [run["id"] for run in agent.runs()]
    counted = _webhooks(settled, case["webhook"]) if "webhook" in case else 0.0
    if case.get("twice"):
        status, _ = _send(agent.port, case, body)
        assert status == 202, "the first delivery is accepted"
    status, answer = _send(agent.port, case, body)
    assert status in case["status"], (status, answer)
    assert "Traceback" not in answer and 'File "' not in answer, answer
    for fragment in case["what"]:
        assert fragment in answer, f"{fragment!r} not in {answer!r}"
    if "webhook" in case:
        assert _webhooks(settled, case["webhook"]) == counted + 1
    # The agent goes round its fetch loop twice more, starting nothing, applying nothing.
    fetched = _fetches(settled)
    wait_for(lambda: _fetches(settled) >= fetched + 2, 60, "two more fetches",
             describe=agent.describe)
    assert [run["id"] for run in agent.runs()] == runs, agent.describe()
    assert settled.markers() == []
    assert agent.running() and agent.healthz() == 200
