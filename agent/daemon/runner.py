"""One run of one deployment: checkout -> engine -> report, ending as an `Ending` that the
outcome funnel (agent/daemon/outcomes.py) records.

The run is recorded as `running` before any host is touched, so a crash leaves a row that
the next start finds and re-runs. Everything a user can get wrong in a commit (inventory,
deploy code) ends as a failed run with the file:line in the report, never as an exception
out of here: the agent must outlive any commit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.compat import load_inventory, run_deploy
from agent.config import DeploymentConfig, hosts_for_shard
from agent.config.models import RolloutConfig, SSHConfig
from agent.daemon.host_keys import host_key_policy
from agent.daemon.outcomes import Ending
from agent.daemon.rollout import RolloutOutcome, RolloutParts, merged, run_rollout
from agent.engine.errors import UserError
from agent.engine.events import (
    EngineWarning,
    Event,
    HostFailed,
    HostUnreachable,
    OperationHostResult,
    RunAborted,
    StageFinished,
    StageStarted,
)
from agent.engine.inventory import Inventory
from agent.engine.result import HostResult as EngineHostResult
from agent.engine.result import RunResult
from agent.engine.run import RunOptions
from agent.metrics import Metrics
from agent.report.build import (
    Provenance,
    before_hosts,
    drifted_hosts_only,
    from_result,
    with_rollout,
    with_status,
)
from agent.report.model import ChangeReport, RolledBack
from agent.source import GitSource, SourceError
from agent.state import StateDB
from agent.vocab import (
    DRIFT_STATUSES,
    FAILED_STATUSES,
    HostStatus,
    Mode,
    OpStatus,
    RunStatus,
    Trigger,
)

log = logging.getLogger(__name__)

WAVE_TRIGGERS = frozenset({Trigger.POLL, Trigger.WEBHOOK, Trigger.MANUAL, Trigger.RETRY})
"""Triggers that bring a new commit: only these go through a deployment's waves."""


@dataclass(frozen=True)
class RunPlan:
    """What to run: the worker's decision, with the commit's details filled in."""

    deployment: DeploymentConfig
    trigger: Trigger
    mode: Mode
    revision: str
    previous: str | None
    author: str | None
    message: str | None
    verified: bool | None
    window_override: str | None = None
    """An operator's reason to run outside the sync windows (recorded on the run's row)."""


@dataclass
class RunEnv:
    """The agent's parts a run uses; built by the agent, shared by its runs."""

    source: GitSource
    db: StateDB
    metrics: Metrics
    agent_info: Mapping[str, Any]
    shard_index: int
    shard_count: int
    cancel: threading.Event
    ssh: SSHConfig  # host keys (daemon/host_keys.py)
    state_dir: Path


def provenance(env: RunEnv, plan: RunPlan, run_id: int) -> Provenance:
    """What the run's report says about where it came from."""
    return Provenance(
        run_id=run_id, trigger=plan.trigger, deployment=plan.deployment.name,
        agent=env.agent_info,
        source={"url": env.source.display_url, "ref": env.source.config.ref,
                "revision": plan.revision, "previous_revision": plan.previous,
                "author": plan.author, "message": plan.message, "verified": plan.verified})


def start(env: RunEnv, plan: RunPlan) -> int:
    """The run's row, `running` before any host is touched (a crash leaves it to find)."""
    run_id = env.db.start_run(plan.deployment.name, plan.trigger, plan.mode, plan.revision,
                              plan.previous, plan.author, plan.message,
                              window_override=plan.window_override)
    log.info("run started", extra={
        "run_id": run_id, "deployment": plan.deployment.name, "trigger": plan.trigger,
        "mode": plan.mode, "revision": plan.revision[:12],
        "previous_revision": (plan.previous or "")[:12]})
    if plan.window_override is not None:
        log.warning("run outside the sync windows: overridden by an operator", extra={
            "run_id": run_id, "deployment": plan.deployment.name,
            "reason": plan.window_override})
    return run_id


def execute_run(env: RunEnv, plan: RunPlan) -> Ending:
    """Run `plan` through the engine to the end; how it ended (nothing recorded yet)."""
    run_id = start(env, plan)
    events = _RunEvents({"run_id": run_id, "deployment": plan.deployment.name})
    started = datetime.now(UTC)
    with env.metrics.run_in_progress(plan.deployment.name):
        full, error = _run_engine(env, plan, run_id, events, started)
    report = full
    if plan.trigger == Trigger.RECONCILE and full.status in DRIFT_STATUSES:
        report = drifted_hosts_only(full)
    return Ending(run_id, plan.deployment.name, plan.trigger, plan.mode, plan.revision,
                  report.status, report=report, observed=full, error=error)


def _run_engine(env: RunEnv, plan: RunPlan, run_id: int, events: _RunEvents,
                started: datetime) -> tuple[ChangeReport, str | None]:
    """The run's full report and, for a run that never reached the hosts, why."""
    deployment = plan.deployment
    checkout: Path | None = None
    inventory: Inventory | None = None
    done: RolloutOutcome | None = None
    try:
        checkout = env.source.checkout(plan.revision)
        inventory = _load_inventory(env, deployment, checkout)
        env.metrics.set_hosts(deployment.name, (host.name for host in inventory.hosts))
        options = _options(env, plan, run_id, checkout)
        deploys = [checkout / d for d in deployment.deploys]
        if deployment.rollout is not None and in_waves(plan):
            done = _run_waves(env, plan, deployment.rollout, inventory, checkout, deploys,
                              options, events)
            result = merged(done.results, _nothing_run(plan, str(run_id), started))
        else:
            result = run_deploy(inventory, deploys, options, events)
    except Exception as exc:
        error = _run_error(exc, checkout, events)
        # Every targeted host carries the error (with its file:line), so receivers that list
        # failed hosts show why; with no usable inventory, the inventory itself stands in.
        hosts = [h.name for h in inventory.hosts] if inventory is not None else []
        report = before_hosts(provenance(env, plan, run_id), plan.mode, started, error,
                              hosts or [f"inventory:{deployment.inventory}"], events.stages)
        return report, error
    for host in result.hosts:
        if host.error:
            host.error = _relative(host.error, checkout)
    report = from_result(result, provenance(env, plan, run_id))
    if done is not None:
        report = with_rollout(report, done.rollout)
    if env.cancel.is_set() and report.status not in FAILED_STATUSES:
        # Shutdown arrived during the run: whatever got done, it did not finish under our
        # watch, so it is recorded as interrupted and run again at the next start.
        report = with_status(report, RunStatus.INTERRUPTED)
    return report, None


def _run_error(exc: Exception, checkout: Path | None, events: _RunEvents) -> str:
    """What a run that raised says: the user's error with repository paths, or an engine
    bug, logged with its traceback (the run fails, the agent stays)."""
    if isinstance(exc, UserError | SourceError):
        return _relative(str(exc), checkout)
    log.exception("run failed on an internal error", extra=events.fields)
    return f"internal error: {type(exc).__name__}: {exc}"


def _options(env: RunEnv, plan: RunPlan, run_id: int, checkout: Path) -> RunOptions:
    deployment = plan.deployment
    return RunOptions(mode=plan.mode, parallel=deployment.parallel,
                      fail_percent=deployment.fail_percent, run_id=str(run_id),
                      cancel=env.cancel, project_root=checkout, local_root=checkout,
                      host_keys=host_key_policy(env.ssh, env.state_dir, checkout))


def in_waves(plan: RunPlan) -> bool:
    """Only a new commit being applied goes through waves; reconciles, plans and rollbacks
    run every host at once (docs/rollout.md)."""
    return (plan.deployment.rollout is not None and plan.mode == Mode.APPLY
            and plan.trigger in WAVE_TRIGGERS)


def _run_waves(env: RunEnv, plan: RunPlan, rollout: RolloutConfig, inventory: Inventory,
               checkout: Path, deploys: list[Path], options: RunOptions, events: _RunEvents
               ) -> RolloutOutcome:
    ran: list[bool] = []

    def run_wave(hosts: Inventory) -> RunResult:
        try:
            result = run_deploy(hosts, deploys, options, events)
        except Exception as exc:
            if not ran:  # nothing touched yet: the run fails as a whole, as without waves
                raise
            return _failed_result(plan, options.run_id, hosts, _run_error(exc, checkout, events))
        ran.append(True)
        return result

    return run_rollout(rollout, RolloutParts(
        deployment=plan.deployment.name, revision=plan.revision, inventory=inventory,
        run=run_wave, roll_back=lambda hosts: _roll_back(env, plan, hosts, events),
        clock=time.monotonic, sleep=lambda seconds: not env.cancel.wait(seconds),
        host_keys=options.host_keys))


def _roll_back(env: RunEnv, plan: RunPlan, hosts: tuple[str, ...], events: _RunEvents
               ) -> RolledBack:
    """Run the last applied commit (its own inventory and deploy code) on `hosts`."""
    if plan.previous is None:
        return RolledBack(revision=None, hosts=list(hosts),
                          error="no commit was applied before this one: nothing to go back to")
    checkout: Path | None = None
    log.warning("rolling back the failed wave", extra={
        **events.fields, "revision": plan.previous[:12], "hosts": len(hosts)})
    try:
        checkout = env.source.checkout(plan.previous)
        inventory = _load_inventory(env, plan.deployment, checkout)
        inventory = inventory.only(hosts)
        options = _options(env, plan, int(events.fields["run_id"]), checkout)
        result = run_deploy(inventory, [checkout / d for d in plan.deployment.deploys],
                            options, events)
    except Exception as exc:
        return RolledBack(revision=plan.previous, hosts=list(hosts), status=RunStatus.FAILED,
                          error=_run_error(exc, checkout, events))
    error = next((f"{h.name}: {_relative(h.error, checkout)}" for h in result.hosts
                  if h.error), None)
    return RolledBack(revision=plan.previous, hosts=[h.name for h in inventory.hosts],
                      status=result.status(plan.trigger), error=error)


def _failed_result(plan: RunPlan, run_id: str, hosts: Inventory, error: str) -> RunResult:
    now = datetime.now(UTC)
    return RunResult(run_id=run_id, mode=plan.mode, started_at=now, finished_at=now,
                     hosts=[EngineHostResult(h.name, HostStatus.FAILED, error)
                            for h in hosts.hosts])


def _nothing_run(plan: RunPlan, run_id: str, started: datetime) -> RunResult:
    """The result of a rollout whose waves all had no host."""
    return RunResult(run_id=run_id, mode=plan.mode, started_at=started,
                     finished_at=datetime.now(UTC))


def _load_inventory(env: RunEnv, deployment: DeploymentConfig, checkout: Path) -> Inventory:
    inventory = load_inventory(checkout / deployment.inventory, deployment.data,
                               deployment.limit, root=checkout)
    if env.shard_count > 1:
        inventory = inventory.only(hosts_for_shard([h.name for h in inventory.hosts],
                                                   env.shard_index, env.shard_count))
    return inventory


def _relative(text: str, checkout: Path | None) -> str:
    """Errors name files in the per-commit export; show them as repository paths."""
    if checkout is None:
        return text
    return text.replace(f"{checkout}/", "").replace(str(checkout), ".")


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
            level = logging.WARNING if r.status == OpStatus.FAILED else logging.INFO
            log.log(level, "operation result", extra={
                **f, "host": event.host, "operation": r.name, "status": r.status,
                **({"error": r.error} if r.error else {})})
        elif isinstance(event, HostUnreachable):
            log.warning("host unreachable", extra={**f, "host": event.host, "error": event.error})
        elif isinstance(event, HostFailed):
            log.warning("host failed", extra={**f, "host": event.host, "error": event.error})
        elif isinstance(event, RunAborted):
            log.warning("run aborted", extra={**f, "reason": event.reason})
        elif isinstance(event, EngineWarning):  # e.g. a fact read after operations queued
            log.warning("deploy warning", extra={
                **f, "host": event.host or "-", "location": event.location or "-",
                "message": event.message})
