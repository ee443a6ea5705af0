"""Embedded state: SQLite run history, applied commits, suspensions and the report outbox."""

from agent.state.db import DB_FILENAME, Retention, StateDB, StateError
from agent.state.rows import RUN_STATUSES, TRIGGERS, AppliedRow, HostRow, OutboxItem, RunRow
from agent.state.schema import SCHEMA_VERSION

__all__ = [
    "DB_FILENAME",
    "RUN_STATUSES",
    "SCHEMA_VERSION",
    "TRIGGERS",
    "AppliedRow",
    "HostRow",
    "OutboxItem",
    "Retention",
    "RunRow",
    "StateDB",
    "StateError",
]
