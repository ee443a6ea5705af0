"""What a sender is given, and what a sender is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from agent.report.model import ChangeReport


@dataclass(frozen=True)
class Delivery:
    """One report on its way to one notifier."""

    id: str
    """Stable across retries of the same outbox row: receivers may de-duplicate on it."""
    body: bytes
    """The report JSON exactly as stored in the outbox; the webhook signs these bytes."""
    report: ChangeReport


class Sender(Protocol):
    """Delivers a report, or raises agent.report.errors.RetryableError / PermanentError."""

    def send(self, delivery: Delivery) -> None: ...
