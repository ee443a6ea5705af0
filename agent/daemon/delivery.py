"""Report delivery for the agent: the outbox, and the thread that drains it in order.

A reload with other notifiers swaps the outbox under a running agent; stop gives the thread
the grace period, then makes one last pass so a clean shutdown leaves nothing undelivered
that a receiver would take.
"""

from __future__ import annotations

import logging

from agent.report.model import ChangeReport
from agent.report.outbox import Outbox, OutboxRunner

log = logging.getLogger(__name__)


class ReportDelivery:
    def __init__(self, outbox: Outbox, interval: float = 1.0) -> None:
        self.outbox = outbox
        self._interval = interval
        self._runner: OutboxRunner | None = None

    def start(self) -> None:
        self._runner = OutboxRunner(self.outbox, interval=self._interval)
        self._runner.start()

    def enqueue(self, report: ChangeReport) -> None:
        queued = self.outbox.enqueue(report)
        if queued:
            log.info("report queued", extra={"run_id": report.run_id, "notifiers": queued,
                                             "status": report.status})
        if self._runner is not None:
            self._runner.wake()

    def replace(self, outbox: Outbox) -> None:
        self.outbox = outbox
        if self._runner is not None:
            self._runner.stop()
            self.start()

    @property
    def alive(self) -> bool:
        return self._runner is not None and self._runner.alive

    def stop(self, grace: float) -> None:
        if self._runner is not None:
            self._runner.stop(timeout=grace)
        try:
            self.outbox.deliver_pending()
        except Exception:
            log.exception("last report delivery pass failed")
