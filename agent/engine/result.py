"""What a run produced: per-host, per-operation results, the run's status and counts.

The ChangeReport that carries them to users is built from these in agent/report/build.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from agent.vocab import HostStatus, Mode, OpStatus, RunStatus, Trigger

OP_STATUSES: tuple[OpStatus, ...] = tuple(OpStatus)
STDERR_TAIL_LINES = 20


@dataclass
class OpHostResult:
    name: str
    status: OpStatus
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
        return self.status == OpStatus.FAILED and not self.ignored


@dataclass
class HostResult:
    name: str
    status: HostStatus = HostStatus.UNCHANGED
    error: str | None = None
    operations: list[OpHostResult] = field(default_factory=list)


@dataclass(frozen=True)
class OperationSummary:
    name: str
    hosts: tuple[str, ...]


@dataclass
class RunResult:
    run_id: str
    mode: Mode
    started_at: datetime
    finished_at: datetime | None = None
    stages: dict[str, float] = field(default_factory=dict)
    hosts: list[HostResult] = field(default_factory=list)
    operations: list[OperationSummary] = field(default_factory=list)
    aborted: str | None = None
    """Why the run stopped early: RunStatus.INTERRUPTED, or the fail-percent message."""
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
        return [h.name for h in self.hosts
                if h.status in (HostStatus.FAILED, HostStatus.UNREACHABLE)]

    @property
    def has_failures(self) -> bool:
        return bool(self.failed_hosts) or self.aborted is not None

    @property
    def has_changes(self) -> bool:
        return any(h.status == HostStatus.CHANGED for h in self.hosts)

    def status(self, trigger: Trigger = Trigger.MANUAL) -> RunStatus:
        """The run's status; a plan with changes is drift found, a reconcile apply fixed it."""
        failed = len(self.failed_hosts)
        if self.aborted == RunStatus.INTERRUPTED:
            return RunStatus.INTERRUPTED
        if self.aborted or (self.hosts and failed == len(self.hosts)):
            return RunStatus.FAILED
        if failed:
            return RunStatus.PARTIAL
        if not self.has_changes:
            return RunStatus.UNCHANGED
        if self.mode == Mode.PLAN:
            return RunStatus.DRIFT_DETECTED
        return (RunStatus.DRIFT_CORRECTED if trigger == Trigger.RECONCILE
                else RunStatus.CHANGED)

    def summary(self) -> dict[str, dict[str, int]]:
        hosts = {"total": len(self.hosts), "changed": 0, "unchanged": 0, "failed": 0,
                 "unreachable": 0}
        for host in self.hosts:
            hosts[host.status] += 1
        ops = {"changed": 0, "unchanged": 0, "skipped": 0, "failed": 0}
        for host in self.hosts:
            for op in host.operations:
                ops["unchanged" if op.status == OpStatus.NO_CHANGE else op.status] += 1
        return {"hosts": hosts, "operations": ops}
