"""The ChangeReport, schema "pullinfra/change-report/v1" (docs/architecture.md, "contracts").

Every model forbids unknown keys and checks enumerations (agent/vocab.py), so a producer
that drifts from the contract (agent/report/build.py, the API, `--json`) fails loudly in
tests instead of sending receivers something they cannot parse.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agent.vocab import (
    REPORT_STATUSES,
    GateStatus,
    HostStatus,
    Mode,
    OpStatus,
    RunStatus,
    Stage,
    Trigger,
    WaveStatus,
)

SCHEMA = "pullinfra/change-report/v1"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class AgentInfo(_Strict):
    instance: str
    version: str
    shard: str | None = None
    """"index/count" (e.g. "1/3") when sharded, else None."""


class SourceInfo(_Strict):
    """The commit the run applied. The agent always fills url, ref and revision; they are
    None only in `pullinfra apply --json`, which runs without a git source."""

    url: str | None = None
    ref: str | None = None
    revision: str | None = None
    previous_revision: str | None = None
    author: str | None = None
    message: str | None = None
    verified: bool | None = None


class HostCounts(_Strict):
    total: int = 0
    changed: int = 0
    unchanged: int = 0
    failed: int = 0
    unreachable: int = 0


class OperationCounts(_Strict):
    changed: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0


class Summary(_Strict):
    hosts: HostCounts = Field(default_factory=HostCounts)
    operations: OperationCounts = Field(default_factory=OperationCounts)


class OperationResult(_Strict):
    name: str
    status: OpStatus
    commands: list[str] = Field(default_factory=list)
    diff: str | None = None
    stderr_tail: str | None = None
    exit_code: int | None = None
    duration_seconds: float | None = None


class HostResult(_Strict):
    name: str
    status: HostStatus
    error: str | None = None
    operations: list[OperationResult] = Field(default_factory=list)


class GateOutcome(_Strict):
    gate: str
    """What was checked, e.g. "command: systemctl is-active app" (masked, short)."""
    status: GateStatus
    detail: str | None = None
    duration_seconds: float = 0.0


class WaveOutcome(_Strict):
    name: str
    hosts: list[str] = Field(default_factory=list)
    status: WaveStatus
    gates: list[GateOutcome] = Field(default_factory=list)


class RolledBack(_Strict):
    """The failed wave's hosts, run again on the last applied commit."""

    revision: str | None
    hosts: list[str] = Field(default_factory=list)
    status: RunStatus | None = None
    """How that run ended; None when it could not run (see `error`)."""
    error: str | None = None


class Rollout(_Strict):
    """How a commit went through its waves (agent/daemon/rollout.py); only in reports of
    runs that had waves."""

    waves: list[WaveOutcome] = Field(default_factory=list)
    halted: bool = False
    halted_at: str | None = None
    """The name of the wave that halted the rollout."""
    reason: str | None = None
    rolled_back: RolledBack | None = None


class ChangeReport(_Strict):
    """What happened in one run of one deployment; sent to notifiers and served by the API."""

    schema_: Literal["pullinfra/change-report/v1"] = Field(default=SCHEMA, alias="schema")
    run_id: str | int
    agent: AgentInfo
    deployment: str | None
    """None only for `pullinfra apply --json`; every agent run belongs to a deployment."""
    trigger: Trigger
    mode: Mode
    source: SourceInfo
    started_at: datetime
    finished_at: datetime
    duration_seconds: float
    stages: dict[Stage, float] = Field(default_factory=dict)
    status: RunStatus
    summary: Summary = Field(default_factory=Summary)
    hosts: list[HostResult] = Field(default_factory=list)
    rollout: Rollout | None = None
    """Optional, added to v1: absent from reports of runs without waves."""

    @field_validator("status")
    @classmethod
    def _a_report_status(cls, status: RunStatus) -> RunStatus:
        if status not in REPORT_STATUSES:
            raise ValueError(f"a report's status is one of {', '.join(REPORT_STATUSES)}")
        return status

    @classmethod
    def from_dict(cls, data: dict) -> ChangeReport:
        """Validate a ChangeReport-shaped dict; raises pydantic.ValidationError on mismatch."""
        return cls.model_validate(data)

    @classmethod
    def from_json(cls, text: str | bytes) -> ChangeReport:
        return cls.model_validate_json(text)

    def to_dict(self) -> dict:
        return self.model_dump(mode="json", by_alias=True, exclude=self._absent())

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, exclude=self._absent())

    def _absent(self) -> set[str] | None:
        """Optional keys added to v1 are left out, not null, when they do not apply, so a
        run without waves reports exactly what it did before."""
        return {"rollout"} if self.rollout is None else None

    @property
    def failed_hosts(self) -> list[HostResult]:
        return [h for h in self.hosts
                if h.status in (HostStatus.FAILED, HostStatus.UNREACHABLE)]

    @property
    def short_revision(self) -> str:
        return (self.source.revision or "no-revision")[:8]
