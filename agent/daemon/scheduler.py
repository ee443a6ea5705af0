"""The agent's timers on an apscheduler 3 BackgroundScheduler: poll and drift reconcile.

Jobs only fetch and hand requests to the deployment slots, so a long run never delays the
next poll, and a slow poll never overlaps itself (max_instances=1, missed ticks coalesce).
Jitter spreads a fleet of agents so they do not hit the git server or their hosts in step.
apscheduler 3 keeps its jobs' times in wall-clock time; `_SteadyScheduler` moves them with
any step of the wall clock, so an interval keeps its length in real time (tests/faults).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from agent.config import AgentConfig
from agent.vocab import Trigger

log = logging.getLogger(__name__)

POLL_JITTER_FRACTION = 0.05
"""Like Flux's default --interval-jitter-percentage: up to 5% of the interval, added."""

HEARTBEAT_SECONDS = 5.0
"""How often the scheduler proves it still fires jobs; three missed beats mean it does not."""
HEARTBEAT_JOB = "heartbeat"

CLOCK_STEP_SECONDS = 2.0
"""A wall clock that moved this much more (or less) than the monotonic clock has stepped."""
CLOCK_CHECK_SECONDS = 1.0
"""The scheduler wakes at least this often, to see a step while it waits for a far job."""


def _clock_skew() -> float:
    return time.time() - time.monotonic()


class _SteadyScheduler(BackgroundScheduler):
    """A clock set back an hour would hold every job (polls, the heartbeat) for that hour,
    and one set forward would fire them all at once; so when the wall clock steps, every
    job's next run moves with it. Slow adjustments (NTP slewing) stay under the threshold."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._skew = _clock_skew()

    def _process_jobs(self) -> float:
        skew = _clock_skew()
        step, self._skew = skew - self._skew, skew
        if abs(step) >= CLOCK_STEP_SECONDS:
            log.warning("the wall clock stepped; timers move with it",
                        extra={"seconds": round(step, 1)})
            for job in self.get_jobs():
                if job.next_run_time is not None:
                    job.modify(next_run_time=job.next_run_time + timedelta(seconds=step))
        wait = super()._process_jobs()
        return CLOCK_CHECK_SECONDS if wait is None else min(wait, CLOCK_CHECK_SECONDS)


def _poll_trigger(config: AgentConfig) -> IntervalTrigger:
    interval = config.source.poll_interval
    return IntervalTrigger(seconds=interval, jitter=interval * POLL_JITTER_FRACTION or None,
                           timezone=UTC)


def _reconcile_trigger(config: AgentConfig) -> IntervalTrigger:
    interval = config.reconcile.interval
    jitter = min(config.reconcile.jitter, interval / 2)
    return IntervalTrigger(seconds=interval, jitter=jitter or None, timezone=UTC)


class Jobs:
    """Owns the scheduler; `configure` (re)applies intervals after a config reload."""

    def __init__(self, poll: Callable[[], None], reconcile: Callable[[], None]) -> None:
        self._poll = poll
        self._reconcile = reconcile
        self._beat = time.monotonic()
        self._scheduler = _SteadyScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    def start(self, config: AgentConfig) -> None:
        self._scheduler.add_job(self._poll, _poll_trigger(config), id=Trigger.POLL,
                                name=Trigger.POLL, next_run_time=datetime.now(UTC))
        self._set_reconcile(config)
        self._scheduler.add_job(self._heartbeat, IntervalTrigger(seconds=HEARTBEAT_SECONDS,
                                                                 timezone=UTC),
                                id=HEARTBEAT_JOB, name=HEARTBEAT_JOB)
        self._beat = time.monotonic()
        self._scheduler.start()

    @property
    def alive(self) -> bool:
        """The scheduler runs and fired its heartbeat lately: polls and reconciles will come.
        A wedged scheduler thread or a job pool with no free thread stops the beat."""
        return (self._scheduler.running
                and time.monotonic() - self._beat < 3 * HEARTBEAT_SECONDS)

    def _heartbeat(self) -> None:
        self._beat = time.monotonic()

    def configure(self, config: AgentConfig) -> None:
        self._scheduler.reschedule_job(Trigger.POLL, trigger=_poll_trigger(config))
        self._set_reconcile(config)

    def _set_reconcile(self, config: AgentConfig) -> None:
        if self._scheduler.get_job(Trigger.RECONCILE) is not None:
            self._scheduler.remove_job(Trigger.RECONCILE)
        if config.reconcile.interval <= 0:
            log.info("drift reconcile is off (reconcile.interval = 0)")
            return
        first = datetime.now(UTC) + timedelta(seconds=config.reconcile.interval)
        self._scheduler.add_job(self._reconcile, _reconcile_trigger(config), id=Trigger.RECONCILE,
                                name=Trigger.RECONCILE, next_run_time=first)

    def stop(self) -> None:
        """Stop firing; a job already running finishes on its own thread."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
