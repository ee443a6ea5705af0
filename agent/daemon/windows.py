"""Sync windows: whether a deployment may apply a new commit at a given time, and if not,
when it next may.

A window is open at t when its schedule fired at some f with f <= t < f + duration. With no
windows, changes may apply at any time; with allow windows, only while one is open; a deny
window that is open blocks, whatever the allow windows say. Everything here is a pure
function of the windows and a time, so the policy (agent/daemon/policy.py) stays pure and
tests drive it with any clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from agent.config.cron import cron_trigger
from agent.config.models import WindowConfig

LOOKAHEAD_SECONDS = 366 * 86400.0
"""How far ahead the next opening is searched; beyond it, a change waits with no known end."""
_MAX_STEPS = 200
"""Openings and closings looked at before giving up (a deny window that never closes)."""
_MAX_OVERLAPS = 20
_EPSILON = timedelta(microseconds=1)


@dataclass(frozen=True)
class Closed:
    """Changes may not apply now: why, and when they next may (None: not within a year)."""

    reason: str
    until: float | None


class _Window:
    def __init__(self, config: WindowConfig) -> None:
        self.config = config
        self.trigger: CronTrigger = cron_trigger(config.schedule, ZoneInfo(config.timezone))
        self.duration = timedelta(seconds=config.duration)

    @property
    def label(self) -> str:
        c = self.config
        return f'{c.kind} "{c.schedule}" for {_span(c.duration)} ({c.timezone})'

    def open_until(self, at: datetime) -> datetime | None:
        """The end of the opening that covers `at` (later firings that overlap it extend it),
        or None when the window is closed at `at`."""
        fired = self._next_fire(at - self.duration + _EPSILON)
        if fired is None or fired > at:
            return None
        end = fired + self.duration
        for _ in range(_MAX_OVERLAPS):
            later = self._next_fire(fired + _EPSILON)
            if later is None or later > end:
                break
            fired, end = later, later + self.duration
        return end

    def next_open(self, after: datetime) -> datetime | None:
        return self._next_fire(after + _EPSILON)

    def _next_fire(self, start: datetime) -> datetime | None:
        return self.trigger.get_next_fire_time(None, start)


def check(windows: Sequence[WindowConfig], now: float) -> Closed | None:
    """None when a change may apply at `now`; else why not and until when."""
    if not windows:
        return None
    parsed = [_Window(w) for w in windows]
    at = datetime.fromtimestamp(now, UTC)
    reason = _blocked(parsed, at)
    if reason is None:
        return None
    return Closed(reason, _next_allowed(parsed, at))


def is_open(windows: Sequence[WindowConfig], now: float) -> bool:
    """Whether changes may apply at `now` (the pullinfra_deployment_window_open gauge)."""
    return check(windows, now) is None


def _blocked(windows: Sequence[_Window], at: datetime) -> str | None:
    for w in windows:
        if w.config.kind == "deny" and w.open_until(at) is not None:
            return f"inside the deny window {w.label}"
    allows = [w for w in windows if w.config.kind == "allow"]
    if allows and all(w.open_until(at) is None for w in allows):
        return "outside every allow window: " + "; ".join(w.label for w in allows)
    return None


def _next_allowed(windows: Sequence[_Window], at: datetime) -> float | None:
    """The first time after `at` when no deny window is open and (if there are any) an allow
    window is: the state only changes where a window opens or closes, so step through those."""
    horizon = at + timedelta(seconds=LOOKAHEAD_SECONDS)
    t = at
    for _ in range(_MAX_STEPS):
        edges = []
        for w in windows:
            end = w.open_until(t)
            if end is not None:
                edges.append(end)
            opens = w.next_open(t)
            if opens is not None:
                edges.append(opens)
        later = [e for e in edges if e > t]
        if not later:
            return None
        t = min(later)
        if t > horizon:
            return None
        if _blocked(windows, t) is None:
            return t.timestamp()
    return None


def _span(seconds: float) -> str:
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"
