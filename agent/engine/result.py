"""What a run produced: per-host, per-operation results, and the ChangeReport built from them."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import agent

CHANGE_REPORT_SCHEMA = "pullinfra/change-report/v1"
OP_STATUSES = ("changed", "no_change", "skipped", "failed")
STDERR_TAIL_LINES = 20


@dataclass
class OpHostResult:
    name: str
    status: str  # changed | no_change | skipped | failed
    commands: list[str] = field(default_factory=list)
    diff: str | None = None
    stderr_tail: str = ""
    exit_code: int | None = None
    duration_seconds: float = 0.0
    error: str | None = None
    ignored: bool = False  # failed, but `_ignore_errors` let the host go on
    reasons: list[str] = field(default_factory=list)  # host.noop() / skip reasons
    index: int = 0  # 1-based position of the operation in the run's global order

    @property
    def host_stopped(self) -> bool:
        return self.status == "failed" and not self.ignored

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "commands": list(self.commands),
            "diff": self.diff,
            "stderr_tail": self.stderr_tail,
            "exit_code": self.exit_code,
            "duration_seconds": round(self.duration_seconds, 6),
        }


@dataclass
class HostResult:
    name: str
    status: str = "unchanged"  # changed | unchanged | failed | unreachable
    error: str | None = None
    operations: list[OpHostResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "error": self.error,
            "operations": [op.to_dict() for op in self.operations],
        }


@dataclass(frozen=True)
class OperationSummary:
    name: str
    hosts: tuple[str, ...]


@dataclass
class RunResult:
    run_id: str
    mode: str  # apply | plan
    started_at: datetime
    finished_at: datetime | None = None
    stages: dict[str, float] = field(default_factory=dict)
    hosts: list[HostResult] = field(default_factory=list)
    operations: list[OperationSummary] = field(default_factory=list)
    aborted: str | None = None  # why the run stopped early: "interrupted" or fail-percent
    callback_errors: list[str] = field(default_factory=list)

    @property
    def duration_seconds(self) -> float:
        end = self.finished_at or self.started_at
        return (end - self.started_at).total_seconds()

    def host(self, name: str) -> HostResult:
        for result in self.hosts:
            if result.name == name:
                return result
        raise KeyError(name)

    @property
    def failed_hosts(self) -> list[str]:
        return [h.name for h in self.hosts if h.status in ("failed", "unreachable")]

    @property
    def has_failures(self) -> bool:
        return bool(self.failed_hosts) or self.aborted is not None

    @property
    def has_changes(self) -> bool:
        return any(h.status == "changed" for h in self.hosts)

    def status(self, trigger: str = "manual") -> str:
        """The report status; a plan with changes is drift found, a reconcile apply fixed it."""
        failed = len(self.failed_hosts)
        if self.aborted == "interrupted":
            return "interrupted"
        if self.aborted or (self.hosts and failed == len(self.hosts)):
            return "failed"
        if failed:
            return "partial"
        if not self.has_changes:
            return "unchanged"
        if self.mode == "plan":
            return "drift_detected"
        return "drift_corrected" if trigger == "reconcile" else "changed"

    def summary(self) -> dict[str, dict[str, int]]:
        hosts = {"total": len(self.hosts), "changed": 0, "unchanged": 0, "failed": 0,
                 "unreachable": 0}
        for host in self.hosts:
            hosts[host.status] += 1
        ops = {"changed": 0, "unchanged": 0, "skipped": 0, "failed": 0}
        for host in self.hosts:
            for op in host.operations:
                ops["unchanged" if op.status == "no_change" else op.status] += 1
        return {"hosts": hosts, "operations": ops}

    def to_change_report(
        self,
        *,
        deployment: str | None = None,
        trigger: str = "manual",
        source: Mapping[str, Any] | None = None,
        agent_info: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The ChangeReport dict (ARCHITECTURE.md); the daemon passes source and agent info."""
        source_fields = ("url", "ref", "revision", "previous_revision", "author", "message",
                         "verified")
        return {
            "schema": CHANGE_REPORT_SCHEMA,
            "run_id": self.run_id,
            "agent": {
                "instance": socket.gethostname(),
                "version": agent.__version__,
                "shard": None,
                **(agent_info or {}),
            },
            "deployment": deployment,
            "trigger": trigger,
            "mode": self.mode,
            "source": {key: (source or {}).get(key) for key in source_fields},
            "started_at": self.started_at.isoformat(),
            "finished_at": (self.finished_at or self.started_at).isoformat(),
            "duration_seconds": round(self.duration_seconds, 6),
            "stages": {stage: round(seconds, 6) for stage, seconds in self.stages.items()},
            "status": self.status(trigger),
            "summary": self.summary(),
            "hosts": [host.to_dict() for host in self.hosts],
        }
