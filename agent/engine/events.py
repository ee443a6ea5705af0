"""Events the engine emits while it runs. The CLI renders them; the daemon records them.

Callbacks are called one at a time (the engine serialises them), from engine worker threads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.engine.result import OpHostResult, RunResult


@dataclass(frozen=True)
class StageStarted:
    stage: str


@dataclass(frozen=True)
class StageFinished:
    stage: str
    duration_seconds: float


@dataclass(frozen=True)
class HostConnected:
    host: str


@dataclass(frozen=True)
class HostUnreachable:
    host: str
    error: str


@dataclass(frozen=True)
class HostPrepared:
    host: str
    operations: int


@dataclass(frozen=True)
class HostFailed:
    """A host stopped outside an operation (a fact read by deploy code failed)."""

    host: str
    error: str


@dataclass(frozen=True)
class OrderReady:
    """The global order: one (name, hosts) per operation, in the order they will run."""

    operations: tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True)
class OperationStarted:
    index: int  # 1-based
    total: int
    name: str
    hosts: tuple[str, ...]


@dataclass(frozen=True)
class OperationHostResult:
    index: int
    host: str
    result: OpHostResult


@dataclass(frozen=True)
class OperationRetry:
    index: int
    host: str
    attempt: int
    retries: int
    error: str


@dataclass(frozen=True)
class OperationFinished:
    index: int
    total: int
    name: str


@dataclass(frozen=True)
class Progress:
    operations_done: int
    operations_total: int
    hosts_done: int
    hosts_total: int


@dataclass(frozen=True)
class EngineWarning:
    message: str
    location: str | None = None
    host: str | None = None


@dataclass(frozen=True)
class RunAborted:
    reason: str


@dataclass(frozen=True)
class RunFinished:
    result: RunResult


Event = (
    StageStarted
    | StageFinished
    | HostConnected
    | HostUnreachable
    | HostPrepared
    | HostFailed
    | OrderReady
    | OperationStarted
    | OperationHostResult
    | OperationRetry
    | OperationFinished
    | Progress
    | EngineWarning
    | RunAborted
    | RunFinished
)
EventCallback = Callable[[Event], None]
