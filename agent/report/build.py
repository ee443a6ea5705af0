"""The one place a ChangeReport is built: from the engine's RunResult, or for a run that
ended before any host was touched. `pullinfra apply --json`, the daemon's runs and its
refusals all come through here, so every report has the same shape and is validated by the
model before anyone stores or posts it.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from agent import __version__
from agent.engine.result import HostResult, OpHostResult, RunResult
from agent.report.model import SCHEMA, ChangeReport, Rollout
from agent.vocab import HostStatus, Mode, RunStatus, Trigger

SOURCE_FIELDS = ("url", "ref", "revision", "previous_revision", "author", "message",
                 "verified")


@dataclass(frozen=True)
class Provenance:
    """Where a run came from: what the report says beyond the engine's own result."""

    run_id: int | str
    trigger: Trigger = Trigger.MANUAL
    deployment: str | None = None
    source: Mapping[str, Any] = field(default_factory=dict)
    agent: Mapping[str, Any] = field(default_factory=dict)


def from_result(result: RunResult, about: Provenance) -> ChangeReport:
    """The report of a run the engine carried out (to the end, or stopped early)."""
    return _validated(result.mode, about, result.started_at,
                      result.finished_at or result.started_at, result.stages,
                      result.status(about.trigger), result.summary(),
                      [_host(h) for h in result.hosts])


def before_hosts(about: Provenance, mode: Mode, started: datetime, error: str,
                 hosts: Sequence[str], stages: Mapping[str, float] | None = None
                 ) -> ChangeReport:
    """A failed run that never reached its hosts: each named host carries the error."""
    summary = {"hosts": {"total": len(hosts), "changed": 0, "unchanged": 0,
                         "failed": len(hosts), "unreachable": 0},
               "operations": {"changed": 0, "unchanged": 0, "skipped": 0, "failed": 0}}
    entries = [{"name": h, "status": HostStatus.FAILED, "error": error, "operations": []}
               for h in hosts]
    return _validated(mode, about, started, datetime.now(UTC), stages or {},
                      RunStatus.FAILED, summary, entries)


def drifted_hosts_only(report: ChangeReport) -> ChangeReport:
    """A drift report lists the hosts that drifted (or failed); its summary keeps them all."""
    return report.model_copy(update={
        "hosts": [h for h in report.hosts if h.status != HostStatus.UNCHANGED]})


def with_status(report: ChangeReport, status: RunStatus) -> ChangeReport:
    return report.model_copy(update={"status": status})


def with_rollout(report: ChangeReport, rollout: Rollout) -> ChangeReport:
    """The report of a run that went through waves; a halted rollout failed, whatever its
    hosts did (docs/rollout.md)."""
    update: dict[str, Any] = {"rollout": rollout}
    if rollout.halted:
        update["status"] = RunStatus.FAILED
    return ChangeReport.from_dict(report.model_copy(update=update).to_dict())


def _validated(mode: str, about: Provenance, started: datetime, finished: datetime,
               stages: Mapping[str, float], status: str, summary: Mapping[str, Any],
               hosts: list[dict[str, Any]]) -> ChangeReport:
    return ChangeReport.from_dict({
        "schema": SCHEMA,
        "run_id": about.run_id,
        "agent": {"instance": socket.gethostname(), "version": __version__, "shard": None,
                  **about.agent},
        "deployment": about.deployment,
        "trigger": about.trigger,
        "mode": mode,
        "source": {key: about.source.get(key) for key in SOURCE_FIELDS},
        "started_at": started.isoformat(),
        "finished_at": finished.isoformat(),
        "duration_seconds": round((finished - started).total_seconds(), 6),
        "stages": {stage: round(seconds, 6) for stage, seconds in stages.items()},
        "status": status,
        "summary": summary,
        "hosts": hosts,
    })


def _host(host: HostResult) -> dict[str, Any]:
    return {"name": host.name, "status": host.status, "error": host.error,
            "operations": [_operation(op) for op in host.operations]}


def _operation(op: OpHostResult) -> dict[str, Any]:
    return {"name": op.name, "status": op.status, "commands": list(op.commands),
            "diff": op.diff, "stderr_tail": op.stderr_tail, "exit_code": op.exit_code,
            "duration_seconds": round(op.duration_seconds, 6)}
