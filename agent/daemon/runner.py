"""One run of one deployment: checkout -> engine -> report -> state -> metrics -> outbox.

The run is recorded as `running` before any host is touched, so a crash leaves a row that
the next start finds and re-runs. Everything a user can get wrong in a commit (inventory,
deploy code) ends as a failed run with the file:line in the report, never as an exception
out of here: the agent must outlive any commit.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent import __version__
from agent.compat import load_inventory, run_deploy
from agent.config import DeploymentConfig, RetentionConfig, hosts_for_shard
from agent.engine.errors import UserError
from agent.engine.events import (
    Event,
    HostFailed,
    HostUnreachable,
    OperationHostResult,
    RunAborted,
    StageFinished,
    StageStarted,
)
from agent.engine.inventory import Inventory
from agent.engine.run import RunOptions
from agent.metrics import Metrics
from agent.report.model import SCHEMA, ChangeReport
from agent.source import GitSource, SourceError
from agent.state import StateDB

log = logging.getLogger(__name__)

FAILED_STATUSES = frozenset({"failed", "partial"})


@dataclass(frozen=True)
class RunPlan:
    """What to run: decided by the agent just before the run starts."""

    deployment: DeploymentConfig
    trigger: str
    mode: str
    revision: str
    previous: str | None
    author: str | None
    message: str | None
    verified: bool | None


@dataclass(frozen=True)
class RunOutcome:
    run_id: int
    status: str
    report: ChangeReport


@dataclass
class RunEnv:
    """The agent's parts a run uses; built by the agent, shared by its runs."""

    source: GitSource
    db: StateDB
    metrics: Metrics
    agent_info: Mapping[str, Any]
    shard_index: int
    shard_count: int
    retention: RetentionConfig
    cancel: threading.Event
    enqueue: Callable[[ChangeReport], None]


def source_fields(env: RunEnv, plan: RunPlan) -> dict[str, Any]:
    return {
        "url": env.source.display_url, "ref": env.source.config.ref,
        "revision": plan.revision, "previous_revision": plan.previous,
        "author": plan.author, "message": plan.message, "verified": plan.verified,
    }


def execute_run(env: RunEnv, plan: RunPlan) -> RunOutcome:
    """Run `plan` to the end and record it everywhere; returns the outcome."""
    name = plan.deployment.name
    run_id = env.db.start_run(name, plan.trigger, plan.mode, plan.revision, plan.previous,
                              plan.author, plan.message)
    fields = {"run_id": run_id, "deployment": name, "trigger": plan.trigger,
              "mode": plan.mode, "revision": plan.revision[:12]}
    log.info("run started", extra={**fields, "previous_revision": (plan.previous or "")[:12]})
    events = _RunEvents({"run_id": run_id, "deployment": name})
    started = datetime.now(UTC)
    with env.metrics.run_in_progress(name):
        document, error = _run_engine(env, plan, run_id, events, started)
    full = ChangeReport.from_dict(document)
    report = full
    if plan.trigger == "reconcile" and full.status.startswith("drift"):
        # Drift is reported for the hosts that drifted (or failed) only; the metrics still
        # see every host, so a host that stopped drifting goes back to 0.
        report = full.model_copy(update={
            "hosts": [h for h in full.hosts if h.status != "unchanged"]})
    _record(env, plan, run_id, report, error, full)
    log.log(logging.WARNING if report.status in FAILED_STATUSES | {"interrupted"}
            else logging.INFO, "run finished", extra={
                **fields, "status": report.status,
                "duration_seconds": round(report.duration_seconds, 3),
                "hosts_changed": report.summary.hosts.changed,
                "hosts_failed": report.summary.hosts.failed + report.summary.hosts.unreachable,
                "operations_changed": report.summary.operations.changed,
                **({"error": error} if error else {}),
            })
    return RunOutcome(run_id, report.status, report)


def _run_engine(env: RunEnv, plan: RunPlan, run_id: int, events: _RunEvents,
                started: datetime) -> tuple[dict[str, Any], str | None]:
    """The report document and, for a run that never reached the hosts, why."""
    deployment = plan.deployment
    checkout: Path | None = None
    inventory: Inventory | None = None
    try:
        checkout = env.source.checkout(plan.revision)
        inventory = _load_inventory(env, deployment, checkout)
        env.metrics.set_hosts(deployment.name, (host.name for host in inventory.hosts))
        options = RunOptions(mode=plan.mode, parallel=deployment.parallel,
                             fail_percent=deployment.fail_percent, run_id=str(run_id),
                             cancel=env.cancel, project_root=checkout)
        result = run_deploy(inventory, [checkout / d for d in deployment.deploys], options,
                            events)
    except Exception as exc:
        if isinstance(exc, UserError | SourceError):
            error = _relative(str(exc), checkout)
        else:  # an engine bug: fail this run, keep the agent
            log.exception("run failed on an internal error", extra=events.fields)
            error = f"internal error: {type(exc).__name__}: {exc}"
        # Every targeted host carries the error (with its file:line), so receivers that list
        # failed hosts show why; with no usable inventory, the inventory itself stands in.
        hosts = [h.name for h in inventory.hosts] if inventory is not None else []
        return failed_report(env, plan, run_id, started, error,
                             hosts or [f"inventory:{deployment.inventory}"], events.stages), error
    document = result.to_change_report(
        deployment=deployment.name, trigger=plan.trigger, source=source_fields(env, plan),
        agent_info=env.agent_info,
    )
    if env.cancel.is_set() and document["status"] not in FAILED_STATUSES:
        # Shutdown arrived during the run: whatever got done, it did not finish under our
        # watch, so it is recorded as interrupted and run again at the next start.
        document["status"] = "interrupted"
    for host in document["hosts"]:
        if host.get("error"):
            host["error"] = _relative(host["error"], checkout)
    return document, None


def _load_inventory(env: RunEnv, deployment: DeploymentConfig, checkout: Path) -> Inventory:
    inventory = load_inventory(checkout / deployment.inventory, deployment.data,
                               deployment.limit)
    if env.shard_count > 1:
        mine = set(hosts_for_shard([h.name for h in inventory.hosts], env.shard_index,
                                   env.shard_count))
        inventory = dataclasses.replace(
            inventory, hosts=tuple(h for h in inventory.hosts if h.name in mine))
    return inventory


def _relative(text: str, checkout: Path | None) -> str:
    """Errors name files in the per-commit export; show them as repository paths."""
    if checkout is None:
        return text
    return text.replace(f"{checkout}/", "").replace(str(checkout), ".")


def failed_report(env: RunEnv, plan: RunPlan, run_id: int, started: datetime, error: str,
                  hosts: list[str], stages: Mapping[str, float] | None = None
                  ) -> dict[str, Any]:
    """A failed report for a run stopped before any host was touched."""
    finished = datetime.now(UTC)
    return {
        "schema": SCHEMA, "run_id": run_id,
        "agent": {"version": __version__, **env.agent_info},
        "deployment": plan.deployment.name, "trigger": plan.trigger, "mode": plan.mode,
        "source": source_fields(env, plan),
        "started_at": started.isoformat(), "finished_at": finished.isoformat(),
        "duration_seconds": round((finished - started).total_seconds(), 6),
        "stages": {k: round(v, 6) for k, v in (stages or {}).items()},
        "status": "failed",
        "summary": {"hosts": {"total": len(hosts), "changed": 0, "unchanged": 0,
                              "failed": len(hosts), "unreachable": 0},
                    "operations": {"changed": 0, "unchanged": 0, "skipped": 0, "failed": 0}},
        "hosts": [{"name": h, "status": "failed", "error": error, "operations": []}
                  for h in hosts],
    }


def _record(env: RunEnv, plan: RunPlan, run_id: int, report: ChangeReport,
            error: str | None, full: ChangeReport) -> None:
    """State first (the truth), then metrics, then the outbox; then prune old history."""
    name = plan.deployment.name
    status = report.status
    env.db.finish_run(run_id, status, report.to_dict(), dict(report.stages), error=error)
    if status in FAILED_STATUSES:
        attempts = env.db.record_attempt(name, plan.revision, error or _first_error(report))
        log.info("commit will be retried with backoff",
                 extra={"deployment": name, "revision": plan.revision[:12],
                        "attempts": attempts})
    elif status != "interrupted":
        env.db.set_applied(name, plan.revision)
        env.metrics.set_applied_revision(name, plan.revision)
    env.metrics.observe_report(full)
    env.enqueue(report)
    try:
        env.db.prune(env.retention)
    except Exception:
        log.exception("pruning the run history failed")


def _first_error(report: ChangeReport) -> str:
    for host in report.hosts:
        if host.error:
            return f"{host.name}: {host.error}"
    return f"run {report.status}"


class _RunEvents:
    """Engine events of one run -> log lines and stage timings (even for a run that fails)."""

    def __init__(self, fields: Mapping[str, Any]) -> None:
        self.fields = dict(fields)
        self.stages: dict[str, float] = {}
        self._started = time.monotonic()

    def __call__(self, event: Event) -> None:
        f = self.fields
        if isinstance(event, StageStarted):
            log.info("stage started", extra={**f, "stage": event.stage})
        elif isinstance(event, StageFinished):
            self.stages[event.stage] = event.duration_seconds
            log.info("stage finished", extra={**f, "stage": event.stage,
                                               "seconds": round(event.duration_seconds, 3)})
        elif isinstance(event, OperationHostResult):
            r = event.result
            level = logging.WARNING if r.status == "failed" else logging.INFO
            log.log(level, "operation result", extra={
                **f, "host": event.host, "operation": r.name, "status": r.status,
                **({"error": r.error} if r.error else {})})
        elif isinstance(event, HostUnreachable):
            log.warning("host unreachable", extra={**f, "host": event.host, "error": event.error})
        elif isinstance(event, HostFailed):
            log.warning("host failed", extra={**f, "host": event.host, "error": event.error})
        elif isinstance(event, RunAborted):
            log.warning("run aborted", extra={**f, "reason": event.reason})
