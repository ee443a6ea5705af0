"""The operator's API: /api/runs, /api/runs/ID, /api/trigger and /api/rollback, behind one
bearer token.

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
    Outside the deployment's sync windows, {"deployment": NAME, "override_window": true,
    "reason": TEXT} runs it anyway, and the reason is recorded.

    The body is read before the token is checked, so a refused caller's body never lingers
    on a kept-alive connection.
    """
    body = request.body()
    authorise(backend.token, request.headers.get("Authorization"))
    data = _object(body)
    deployment = _text(data, "deployment")
    if backend.on_trigger is None:
        raise HTTPError(503, "triggers are not available")
    if data.get("override_window", False) not in (True, False):
        raise HTTPError(400, "override_window must be true or false")
    if data.get("override_window"):
        reason = _text(data, "reason")
        if deployment is None or reason is None:
            raise HTTPError(400, "override_window needs a deployment and a reason")
        result = backend.on_trigger(deployment, override_window=reason)
    else:
        result = backend.on_trigger(deployment)
    return _queued(deployment, result)


def rollback(backend: Backend, request: Request) -> Reply:
    """POST /api/rollback with {"deployment": NAME} (the last good commit) or {"deployment":
    NAME, "to": SHA}: 202 once queued, with the commit it goes back to."""
    body = request.body()
    authorise(backend.token, request.headers.get("Authorization"))
    data = _object(body)
    deployment = _text(data, "deployment")
    if deployment is None:
        raise HTTPError(400, 'a rollback names its deployment: {"deployment": "web"}')
    if backend.on_rollback is None:
        raise HTTPError(503, "rollbacks are not available")
    return _queued(deployment, backend.on_rollback(deployment, _text(data, "to")))


def _queued(deployment: str | None, result: Any) -> Reply:
    answer: dict[str, Any] = {"status": "queued", "deployment": deployment}
    if isinstance(result, Mapping):
        answer.update(result)
    return Reply.json(202, answer)


def _history(backend: Backend, request: Request) -> RunsSource:
    authorise(backend.token, request.headers.get("Authorization"))
    if backend.runs is None:
        raise HTTPError(503, "run history is not available")
    return backend.runs


def _object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise HTTPError(400, 'body must be JSON, e.g. {"deployment": "web"}, or empty'
                        ) from None
    if not isinstance(data, dict):
        raise HTTPError(400, 'body must be an object like {"deployment": "web"}')
    return data


def _text(data: Mapping[str, Any], key: str) -> str | None:
    """A string field of the body; empty or missing is None."""
    if not isinstance(data.get(key, ""), str):
        raise HTTPError(400, f'"{key}" must be a string, e.g. {{"deployment": "web"}}')
    return data.get(key) or None


def _plain(row: Any) -> Any:
    """A run row as JSON-ready data: dataclass rows (agent.state) become dicts."""
    if dataclasses.is_dataclass(row) and not isinstance(row, type):
        return dataclasses.asdict(row)
    return row
