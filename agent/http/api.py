"""The operator's API: /api/runs, /api/runs/ID and /api/trigger, behind one bearer token.

The API is off until a token is configured: a forgotten token must not leave triggers open
to anyone who can reach the port. A trigger only enqueues; the daemon answers with what it
queued, or refuses with an agent.refusals error that agent.http.server maps to a status.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

from agent.http.exchange import DEFAULT_RUNS_LIMIT, Backend, HTTPError, Reply, Request, RunsSource
from agent.state.rows import MAX_RUN_ID, run_id_from

MAX_RUNS_LIMIT = 1000


def authorise(token: str | None, authorization: str | None) -> None:
    """Raise the 403 (API off) or 401 (wrong or missing token) that the caller gets."""
    if token is None:
        raise HTTPError(403, "the API is disabled: set [http] token to enable it")
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                             token.encode()):
        raise HTTPError(401, "missing or wrong bearer token",
                        headers={"WWW-Authenticate": "Bearer"})


def list_runs(backend: Backend, request: Request) -> Reply:
    """GET /api/runs[?deployment=NAME&limit=N]: newest first."""
    runs = _history(backend, request)
    deployment = request.query.get("deployment", [None])[0]
    raw_limit = request.query.get("limit", [str(DEFAULT_RUNS_LIMIT)])[0]
    # isascii(): str.isdigit() also takes "²", which int() refuses.
    if not (raw_limit.isascii() and raw_limit.isdigit() and len(raw_limit) <= 4
            and 0 < int(raw_limit) <= MAX_RUNS_LIMIT):
        raise HTTPError(400, f"limit must be an integer from 1 to {MAX_RUNS_LIMIT}")
    rows = runs.list_runs(deployment, int(raw_limit))
    return Reply.json(200, {"runs": [_plain(row) for row in rows]})


def get_run(backend: Backend, request: Request, run_id: str) -> Reply:
    """GET /api/runs/ID: one run with its report; the state DB's ids are integers."""
    runs = _history(backend, request)
    number = run_id_from(urllib.parse.unquote(run_id))
    if number is None:
        raise HTTPError(400, f"a run id is an integer from 1 to {MAX_RUN_ID}")
    run = runs.get_run(number)
    if run is None:
        raise HTTPError(404, f"no run {number}")
    return Reply.json(200, _plain(run))


def trigger(backend: Backend, request: Request) -> Reply:
    """POST /api/trigger with {"deployment": NAME} or an empty body for all: 202 once queued.

    The body is read before the token is checked, so a refused caller's body never lingers
    on a kept-alive connection.
    """
    body = request.body()
    authorise(backend.token, request.headers.get("Authorization"))
    deployment = _deployment(body)
    if backend.on_trigger is None:
        raise HTTPError(503, "triggers are not available")
    result = backend.on_trigger(deployment)
    answer: dict[str, Any] = {"status": "queued", "deployment": deployment}
    if isinstance(result, Mapping):
        answer.update(result)
    return Reply.json(202, answer)


def _history(backend: Backend, request: Request) -> RunsSource:
    authorise(backend.token, request.headers.get("Authorization"))
    if backend.runs is None:
        raise HTTPError(503, "run history is not available")
    return backend.runs


def _deployment(body: bytes) -> str | None:
    if not body.strip():
        return None
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise HTTPError(400, 'body must be JSON, e.g. {"deployment": "web"}, or empty'
                        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("deployment", ""), str):
        raise HTTPError(400, 'body must be an object like {"deployment": "web"}')
    return data.get("deployment") or None


def _plain(row: Any) -> Any:
    """A run row as JSON-ready data: dataclass rows (agent.state) become dicts."""
    if dataclasses.is_dataclass(row) and not isinstance(row, type):
        return dataclasses.asdict(row)
    return row
