"""Which reports a notifier wants, from its `on` setting (changed | failed | drift | all).

Runs that changed nothing and found nothing (`unchanged`) are never reported: a fleet that
is converged would otherwise page someone on every poll. `all` is the union of the three
classes below, not "every run".
"""

from __future__ import annotations

from collections.abc import Iterable

from agent.report.model import ChangeReport
from agent.vocab import DRIFT_STATUSES, TROUBLE_STATUSES, NotifyOn, RunStatus

ON_VALUES: tuple[NotifyOn, ...] = tuple(NotifyOn)
_CHANGED = frozenset({RunStatus.CHANGED, RunStatus.DRIFT_CORRECTED})
_CUT_SHORT = frozenset({RunStatus.PARTIAL, RunStatus.INTERRUPTED})


def report_classes(report: ChangeReport) -> frozenset[NotifyOn]:
    """The classes (changed, failed, drift) a report belongs to; empty for a quiet run."""
    classes = set()
    changed_ops = report.summary.operations.changed or report.summary.hosts.changed
    if report.status in _CHANGED or (report.status in _CUT_SHORT and changed_ops):
        classes.add(NotifyOn.CHANGED)
    if report.status in TROUBLE_STATUSES:
        classes.add(NotifyOn.FAILED)
    if report.status in DRIFT_STATUSES:
        classes.add(NotifyOn.DRIFT)
    return frozenset(classes)


def wants(on: str | Iterable[str], report: ChangeReport) -> bool:
    """True if a notifier configured with `on` should get this report."""
    selected = {on} if isinstance(on, str) else set(on)
    unknown = selected - set(ON_VALUES)
    if unknown:
        raise ValueError(f"unknown notifier 'on' value(s) {sorted(unknown)}; use {ON_VALUES}")
    classes = report_classes(report)
    if NotifyOn.ALL in selected:
        return bool(classes)
    return bool(classes & selected)
