"""Outbox delivery: in order per notifier, retried with backoff, surviving a restart.

Runs against an in-memory store written to the OutboxStore protocol, and against the real
StateDB (agent/state.py) when it is importable. The receiver is a real HTTP server on
127.0.0.1 that is really stopped (connection refused) and started again on the same port.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.backoff import Backoff
from agent.metrics import Metrics
from agent.report.model import ChangeReport
from agent.report.outbox import Notifier, Outbox, OutboxRunner, OutboxStore
from agent.report.webhook import WebhookSender, verify
from tests.agent.receivers import Receiver, sample_report
from tests.polling import wait_for

SECRET = "outbox-hmac-key"


@dataclass
class Row:
    id: int
    notifier: str
    payload: str
    attempts: int = 0
    next_at: float = 0.0
    error: str | None = None


class MemoryStore:
    """The OutboxStore protocol in memory.

    strict=True: `outbox_due` returns nothing for a notifier whose oldest row is not due yet
    (the head-of-line rule lives in the store, which is what survives restarts).
    strict=False: returns every due row, to show the Outbox keeps order by itself.
    """

    def __init__(self, strict: bool = True):
        self.strict = strict
        self.rows: dict[int, Row] = {}
        self._next_id = 1

    def outbox_put(self, notifier: str, payload: str) -> int:
        row = Row(self._next_id, notifier, payload)
        self.rows[row.id] = row
        self._next_id += 1
        return row.id

    def outbox_due(self, now: float, notifier: str) -> list[Row]:
        pending = sorted((r for r in self.rows.values() if r.notifier == notifier),
                         key=lambda r: r.id)
        if self.strict and pending and pending[0].next_at > now:
            return []
        return [r for r in pending if r.next_at <= now]

    def outbox_done(self, id: int) -> None:
        del self.rows[id]

    def outbox_failed(self, id: int, next_at: float, error: str) -> None:
        row = self.rows[id]
        row.attempts += 1
        row.next_at = next_at
        row.error = error

    def outbox_depth(self) -> int:
        return len(self.rows)


def _state_db(tmp_path: Path) -> Any:
    state = pytest.importorskip("agent.state", reason="agent/state.py has not landed yet")
    return state.StateDB(tmp_path / "state.db")


def reopen(store: OutboxStore) -> OutboxStore:
    """What a restart does to the store: the SQLite file is opened afresh."""
    if isinstance(store, MemoryStore):
        return store
    store.close()
    return type(store)(store.path)


STORES: dict[str, Callable[[Path], OutboxStore]] = {
    "memory": lambda tmp: MemoryStore(),
    "statedb": _state_db,
}


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OutboxStore]:
    s = STORES[request.param](tmp_path)
    yield s
    if not isinstance(s, MemoryStore):
        s.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def report(run_id: int, status: str = "changed") -> ChangeReport:
    return ChangeReport.from_dict(sample_report(run_id=run_id, status=status))


def outbox(store: OutboxStore, receiver: Receiver, metrics: Metrics | None = None,
           backoff: Backoff | None = None) -> Outbox:
    sender = WebhookSender(receiver.url + "/hook", SECRET, timeout=5.0)
    return Outbox(store, [Notifier("hook", "all", sender)], counters=metrics,
                  backoff=backoff or Backoff(base=10.0, cap=60.0, jitter=0.0),
                  rng=random.Random(1))


def delivered_run_ids(receiver: Receiver) -> list[int]:
    return [r.json()["run_id"] for r in receiver.received()]


def sample_value(m: Metrics, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(m.exposition().decode()):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    raise AssertionError(f"no sample {name} {labels}")


def test_a_report_is_delivered_signed_and_leaves_the_queue(store: OutboxStore,
                                                           receiver: Receiver) -> None:
    m = Metrics()
    box = outbox(store, receiver, m)
    assert box.enqueue(report(1)) == ["hook"]
    assert sample_value(m, "pullinfra_notification_queue_depth") == 1
    assert box.deliver_due(time.time() + 1) == 1
    [got] = receiver.received()
    assert verify(SECRET, got.body, got.headers["X-Pullinfra-Signature"])
    assert ChangeReport.from_json(got.body) == report(1)
    assert store.outbox_depth() == 0
    assert sample_value(m, "pullinfra_notification_queue_depth") == 0
    assert sample_value(m, "pullinfra_notifications_total", notifier="hook",
                        result="success") == 1


def test_receiver_down_for_three_reports_then_back_gets_all_in_order_across_a_restart(
    store: OutboxStore, receiver: Receiver
) -> None:
    m = Metrics()
    box = outbox(store, receiver, m)
    receiver.stop()  # really down: connection refused on its port
    now = time.time() + 1
    for run_id in (1, 2, 3):
        box.enqueue(report(run_id))
        assert box.deliver_due(now) == 0
        now += 30.0
    assert store.outbox_depth() == 3
    assert sample_value(m, "pullinfra_notifications_total", notifier="hook",
                        result="retry") >= 1

    # The agent restarts: the store reopened, a new Outbox and Metrics; the receiver is back.
    store = reopen(store)
    receiver.start()
    m2 = Metrics()
    box2 = outbox(store, receiver, m2)
    assert sample_value(m2, "pullinfra_notification_queue_depth") == 3
    assert box2.deliver_due(now + 3600.0) == 3
    assert delivered_run_ids(receiver) == [1, 2, 3]
    for got in receiver.received():
        assert verify(SECRET, got.body, got.headers["X-Pullinfra-Signature"])
    assert len({got.headers["X-Pullinfra-Delivery"] for got in receiver.received()}) == 3
    assert store.outbox_depth() == 0
    assert sample_value(m2, "pullinfra_notification_queue_depth") == 0


def test_a_later_report_never_overtakes_a_head_that_is_waiting(receiver: Receiver) -> None:
    for store in (MemoryStore(strict=True), MemoryStore(strict=False)):
        receiver.requests.clear()
        receiver.status = 503
        box = outbox(store, receiver)
        box.enqueue(report(1))
        assert box.deliver_due(1000.0) == 0  # 1 fails, retry at 1010
        receiver.status = 200
        box.enqueue(report(2))  # due at once, but behind 1
        assert box.deliver_due(1005.0) == 0
        assert delivered_run_ids(receiver) == [1]  # only the failed attempt of 1
        assert box.deliver_due(1010.0) == 2
        assert delivered_run_ids(receiver) == [1, 1, 2]


def test_backoff_grows_exponentially_up_to_the_cap(receiver: Receiver) -> None:
    store = MemoryStore()
    receiver.status = 500
    box = outbox(store, receiver, backoff=Backoff(base=1.0, factor=2.0, cap=8.0, jitter=0.0))
    box.enqueue(report(1))
    now, waits = 0.0, []
    for _ in range(6):
        box.deliver_due(now)
        [row] = store.rows.values()
        waits.append(row.next_at - now)
        now = row.next_at
    assert waits == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert row.attempts == 6
    assert row.error is not None and "HTTP 500" in row.error


def test_jitter_shortens_the_wait_by_at_most_its_fraction() -> None:
    backoff = Backoff(base=10.0, cap=100.0, jitter=0.5)
    rng = random.Random(7)
    delays = [backoff.delay(3, rng) for _ in range(200)]
    assert all(20.0 <= d <= 40.0 for d in delays)
    assert len(set(delays)) > 1


def test_retry_after_from_the_receiver_is_honoured_within_the_cap(receiver: Receiver) -> None:
    store = MemoryStore()
    receiver.status, receiver.headers = 429, {"Retry-After": "45"}
    box = outbox(store, receiver, backoff=Backoff(base=1.0, cap=60.0, jitter=0.0))
    box.enqueue(report(1))
    box.deliver_due(0.0)
    assert next(iter(store.rows.values())).next_at == 45.0


def test_a_refused_report_is_dropped_and_the_queue_moves_on(store: OutboxStore,
                                                           receiver: Receiver) -> None:
    m = Metrics()
    box = outbox(store, receiver, m)
    receiver.status = 422
    box.enqueue(report(1))
    store.outbox_put("hook", '{"not": "a change report"}')
    box.deliver_due(time.time() + 1)
    receiver.status = 200
    box.enqueue(report(3))
    assert box.deliver_due(time.time() + 1) == 1
    assert delivered_run_ids(receiver) == [1, 3]
    assert store.outbox_depth() == 0
    assert sample_value(m, "pullinfra_notifications_total", notifier="hook",
                        result="dropped") == 2


def test_notifiers_only_get_what_they_asked_for(receiver: Receiver) -> None:
    store = MemoryStore()
    sender = WebhookSender(receiver.url, SECRET)
    box = Outbox(store, [Notifier("failures", "failed", sender),
                         Notifier("drift", ["drift"], sender)])
    assert box.enqueue(report(1, "changed")) == []
    assert box.enqueue(report(2, "unchanged")) == []
    assert box.enqueue(report(3, "failed")) == ["failures"]
    assert box.enqueue(report(4, "drift_detected")) == ["drift"]
    assert sorted(r.notifier for r in store.rows.values()) == ["drift", "failures"]


def test_one_notifier_waiting_does_not_hold_up_another(receiver: Receiver) -> None:
    store = MemoryStore()
    other = Receiver().start()
    try:
        box = Outbox(store, [Notifier("down", "all", WebhookSender(other.url, SECRET)),
                             Notifier("up", "all", WebhookSender(receiver.url, SECRET))],
                     backoff=Backoff(base=10.0, jitter=0.0))
        other.stop()
        box.enqueue(report(1))
        assert box.deliver_due(0.0) == 1
        assert delivered_run_ids(receiver) == [1]
        assert [r.notifier for r in store.rows.values()] == ["down"]
    finally:
        other.stop()


def test_the_runner_thread_delivers_and_stops(store: OutboxStore, receiver: Receiver) -> None:
    box = outbox(store, receiver)
    runner = OutboxRunner(box, interval=0.05)
    runner.start()
    try:
        box.enqueue(report(1))
        box.enqueue(report(2))
        runner.wake()
        wait_for(lambda: len(receiver.received()) >= 2, 10, "two deliveries", interval=0.02)
    finally:
        runner.stop()
    assert delivered_run_ids(receiver) == [1, 2]
    assert store.outbox_depth() == 0


def test_the_last_pass_of_a_stopping_agent_sends_what_waits_for_its_retry(
        receiver: Receiver) -> None:
    store = MemoryStore()  # the test's clock decides what is due
    receiver.status = 503
    box = outbox(store, receiver)
    box.enqueue(report(1))
    box.enqueue(report(2))
    assert box.deliver_due(1000.0) == 0  # 1 fails, retry at 1010
    assert box.deliver_pending(1001.0) == 0  # still down: the failure is recorded, in order
    assert delivered_run_ids(receiver) == [1, 1]
    receiver.status = 200
    assert box.deliver_due(1002.0) == 0  # the retry is not due yet
    assert box.deliver_pending(1002.0) == 2
    assert delivered_run_ids(receiver) == [1, 1, 1, 2]
    assert store.outbox_depth() == 0
