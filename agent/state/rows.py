"""Read-only views of state DB rows, as handed to the daemon, CLI and HTTP API."""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass
from typing import Any

from agent.vocab import RunStatus, Trigger

TRIGGERS = frozenset(Trigger)
RUN_STATUSES = frozenset(RunStatus)
MAX_RUN_ID = 2**63 - 1
"""SQLite's largest integer: a bigger id cannot even be looked up (it overflows)."""
_RUN_ID = re.compile(r"[0-9]{1,19}")


def run_id_from(text: str) -> int | None:
    """The run id `text` spells, or None. ASCII digits only: str.isdigit() also takes "²",
    which int() refuses."""
    if not _RUN_ID.fullmatch(text) or not 0 < int(text) <= MAX_RUN_ID:
        return None
    return int(text)


@dataclass(frozen=True)
class RunRow:
    id: int
    deployment: str
    trigger: str
    mode: str
    status: str
    revision: str | None
    previous_revision: str | None
    author: str | None
    message: str | None
    started_at: float
    finished_at: float | None
    stages: dict[str, float]
    report: dict[str, Any] | None
    error: str | None
    superseded_by: str | None
    window_override: str | None = None
    """The operator's reason for running outside the deployment's sync windows."""

    @property
    def duration_seconds(self) -> float | None:
        return None if self.finished_at is None else self.finished_at - self.started_at

    @classmethod
    def from_row(cls, row: sqlite3.Row, report: bool = True) -> RunRow:
        values = dict(row)
        values["stages"] = json.loads(values["stages"] or "{}")
        values["report"] = json.loads(values["report"]) if values["report"] and report \
            else None
        return cls(**values)


@dataclass(frozen=True)
class HostRow:
    run_id: int
    host: str
    status: str
    error: str | None


@dataclass(frozen=True)
class AppliedRow:
    """What a deployment last applied, and the retry state of the commit it last tried."""

    deployment: str
    revision: str | None
    applied_at: float | None
    attempted_revision: str | None
    attempts: int
    last_attempt_at: float | None
    last_error: str | None
    halted_revision: str | None = None
    """The attempted commit, when its rollout halted: it waits for a new commit, a manual
    trigger or a rollback instead of a retry with backoff."""


@dataclass(frozen=True)
class PinRow:
    """A rollback's pin: `revision` stays applied while the branch head is still `head`."""

    deployment: str
    revision: str
    head: str | None
    since: float


@dataclass(frozen=True)
class OutboxItem:
    """One queued report for one notifier; `next_at` is when it may be (re)tried."""

    id: int
    notifier: str
    payload: str
    created_at: float
    attempts: int
    next_at: float
    delivered_at: float | None
    last_error: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> OutboxItem:
        values = dict(row)
        values["next_at"] = values.pop("next_attempt_at")
        return cls(**values)
