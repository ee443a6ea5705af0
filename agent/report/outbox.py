"""Delivery of queued reports: per notifier strictly in order, retried with backoff, durable.

All delivery state (what is queued, attempts, when to retry) lives in the store (the state
DB's outbox table), so a restarted agent carries on where the old one stopped. This module
holds no queue of its own; `Outbox.deliver_due(now)` is one pass over the store, and
`OutboxRunner` calls it from a background thread.

Ordering: for each notifier only the oldest pending row (the head) may be sent. When the
head fails with a retryable error it is rescheduled, and nothing behind it is sent until it
has gone: report N+1 never overtakes report N. A permanent error drops the head (see
agent/report/errors.py for the rule) so one poisoned report cannot block the rest forever.
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ValidationError

from agent.backoff import Backoff
from agent.report.delivery import Delivery, Sender
from agent.report.errors import DeliveryError, PermanentError, RetryableError
from agent.report.filters import wants
from agent.report.model import ChangeReport

log = logging.getLogger(__name__)


class OutboxCounters(Protocol):
    """Where the outbox counts deliveries and its queue (agent.metrics.Metrics is one);
    passed in, so reports know nothing of metrics."""

    def init_notifier(self, name: str) -> None: ...

    def count_notification(self, notifier: str, result: str) -> None: ...

    def set_queue_depth(self, depth: int) -> None: ...


class OutboxStore(Protocol):
    """What delivery needs from the state DB (agent/state.py implements it).

    Rows may be objects or mappings with at least `id` (int, increasing with insertion) and
    `payload` (the report JSON, str or bytes); `attempts` (failed attempts so far) and
    `next_at` (unix time of the next try) are used when present.
    """

    def outbox_put(self, notifier: str, payload: str) -> Any:
        """Queue `payload` for `notifier`, due at once."""

    def outbox_due(self, now: float, notifier: str) -> Sequence[Any]:
        """Pending rows of `notifier` with next_at <= now, oldest (lowest id) first."""

    def outbox_done(self, id: int) -> None:
        """Remove a delivered (or dropped) row."""

    def outbox_failed(self, id: int, next_at: float, error: str) -> None:
        """Record a failed attempt: attempts += 1, retry at `next_at`, keep `error`."""

    def outbox_depth(self) -> int:
        """Pending rows, all notifiers."""


def _field(row: Any, name: str, default: Any = None) -> Any:
    if isinstance(row, Mapping):
        return row.get(name, default)
    try:
        return row[name]  # sqlite3.Row
    except (TypeError, KeyError, IndexError):
        return getattr(row, name, default)


@dataclass(frozen=True)
class Notifier:
    """A configured notifier: its stable name (the queue key), what it wants, its sender."""

    name: str
    on: str | Iterable[str]
    sender: Sender


class Outbox:
    def __init__(
        self,
        store: OutboxStore,
        notifiers: Iterable[Notifier],
        counters: OutboxCounters | None = None,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
    ):
        self.store = store
        self.notifiers = {n.name: n for n in notifiers}
        self.counters = counters
        self.backoff = backoff or Backoff(jitter=0.2)
        self._rng = rng or random.Random()
        # Guards the head-of-line rule within this process even if a store were to return a
        # later row while the head waits; the store's own order is what survives a restart.
        self._held: dict[str, tuple[int, float]] = {}
        self._attempts: dict[int, int] = {}
        self._lock = threading.Lock()
        if counters is not None:
            for name in self.notifiers:
                counters.init_notifier(name)
            self._update_depth()

    def enqueue(self, report: ChangeReport) -> list[str]:
        """Queue `report` for every notifier that wants it; returns their names."""
        payload = report.to_json()
        queued = []
        for notifier in self.notifiers.values():
            if wants(notifier.on, report):
                self.store.outbox_put(notifier.name, payload)
                queued.append(notifier.name)
        self._update_depth()
        return queued

    def deliver_due(self, now: float | None = None) -> int:
        """Send every due report, in order per notifier; returns how many were delivered."""
        return self._pass(now, last=False)

    def deliver_pending(self, now: float | None = None) -> int:
        """Try every queued report once more, whatever its retry time: the last pass of an
        agent that is about to exit, so a receiver that is back gets its reports now rather
        than after the next start. Failures are recorded as usual and keep the order."""
        return self._pass(now, last=True)

    def _pass(self, now: float | None, last: bool) -> int:
        now = time.time() if now is None else now
        delivered = 0
        with self._lock:
            for name, notifier in self.notifiers.items():
                delivered += self._drain(name, notifier.sender, now, last)
        self._update_depth()
        return delivered

    def _drain(self, name: str, sender: Sender, now: float, last: bool = False) -> int:
        delivered = 0
        seen: set[int] = set()
        while True:
            rows = self.store.outbox_due(math.inf if last else now, name)
            if not rows and not last:
                rows = self._set_back(name, now)
            if not rows:
                return delivered
            row = min(rows, key=lambda r: int(_field(r, "id")))
            row_id = int(_field(row, "id"))
            if row_id in seen:
                return delivered  # the store did not take our answer; try again next pass
            seen.add(row_id)
            held = self._held.get(name)
            if not last and held is not None and held[0] < row_id and now < held[1]:
                return delivered  # the head is waiting for its retry; keep order
            if self._send(name, sender, row, row_id, now):
                delivered += 1
                self._held.pop(name, None)
            elif self._held.get(name, (None,))[0] == row_id:
                return delivered

    def _set_back(self, name: str, now: float) -> list[Any]:
        """The head, if its retry is further off than the longest backoff: the wall clock was
        set back since it was scheduled, and it is tried now rather than hours later (the
        rule agent/daemon/policy.py has for failed commits)."""
        return [row for row in self.store.outbox_due(math.inf, name)
                if (_field(row, "next_at") or 0) > now + self.backoff.cap]

    def _send(self, name: str, sender: Sender, row: Any, row_id: int, now: float) -> bool:
        """Try one row; True when it left the queue delivered."""
        payload = _field(row, "payload")
        body = payload if isinstance(payload, bytes) else str(payload).encode()
        try:
            report = ChangeReport.from_json(body)
        except (ValidationError, json.JSONDecodeError, ValueError) as e:
            self._drop(name, row_id, now, PermanentError(f"stored report does not parse: {e}"))
            return False
        delivery = Delivery(id=f"{name}-{row_id}-{report.run_id}", body=body, report=report)
        try:
            sender.send(delivery)
        except RetryableError as e:
            self._retry(name, row, row_id, now, e)
            return False
        except DeliveryError as e:
            self._drop(name, row_id, now, e)
            return False
        self.store.outbox_done(row_id)
        self._attempts.pop(row_id, None)
        self._count(name, "success")
        log.info("report delivered", extra={"notifier": name, "outbox_id": row_id,
                                            "run_id": report.run_id})
        return True

    def _retry(self, name: str, row: Any, row_id: int, now: float, error: RetryableError) -> None:
        stored = _field(row, "attempts")
        attempt = (int(stored) if stored is not None else self._attempts.get(row_id, 0)) + 1
        self._attempts[row_id] = attempt
        wait = self.backoff.delay(attempt, self._rng)
        if error.retry_after is not None:
            wait = min(self.backoff.cap, max(wait, error.retry_after))
        next_at = now + wait
        self.store.outbox_failed(row_id, next_at, str(error))
        self._held[name] = (row_id, next_at)
        self._count(name, "retry")
        log.warning("report delivery failed; will retry", extra={
            "notifier": name, "outbox_id": row_id, "attempt": attempt,
            "retry_in_seconds": round(wait, 1), "error": str(error)})

    def _drop(self, name: str, row_id: int, now: float, error: DeliveryError) -> None:
        # Record why before the row leaves the queue, so the state DB keeps the reason.
        self.store.outbox_failed(row_id, now, f"dropped: {error}")
        self.store.outbox_done(row_id)
        self._attempts.pop(row_id, None)
        self._held.pop(name, None)
        self._count(name, "dropped")
        log.error("report dropped: the receiver refused it for good", extra={
            "notifier": name, "outbox_id": row_id, "error": str(error)})

    def _count(self, name: str, result: str) -> None:
        if self.counters is not None:
            self.counters.count_notification(name, result)

    def _update_depth(self) -> None:
        if self.counters is not None:
            self.counters.set_queue_depth(self.store.outbox_depth())


class OutboxRunner:
    """Runs `Outbox.deliver_due` in a daemon thread every `interval` seconds, or at `wake()`."""

    def __init__(self, outbox: Outbox, interval: float = 1.0,
                 clock: Callable[[], float] = time.time):
        self.outbox = outbox
        self.interval = interval
        self._clock = clock
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("outbox runner already started")
        self._thread = threading.Thread(target=self._loop, name="pullinfra-outbox", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        """Deliver now rather than at the next tick (call after `Outbox.enqueue`)."""
        self._wake.set()

    def stop(self, timeout: float | None = 30.0) -> None:
        """Stop after the delivery in flight (bounded by the senders' timeouts)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.outbox.deliver_due(self._clock())
            except Exception:  # the store or a sender bug must not end delivery for good
                log.exception("outbox delivery pass failed")
            self._wake.wait(self.interval)
            self._wake.clear()
