"""Which reports a notifier wants, from its `on` setting (changed | failed | drift | all).

Runs that changed nothing and found nothing (`unchanged`) are never reported: a fleet that
is converged would otherwise page someone on every poll. `all` is the union of the three
classes below, not "every run".
"""

from __future__ import annotations

from collections.abc import Iterable

from agent.report.model import ChangeReport

ON_VALUES = ("changed", "failed", "drift", "all")

_FAILED = frozenset({"failed", "partial", "interrupted"})
_DRIFT = frozenset({"drift_detected", "drift_corrected"})


def report_classes(report: ChangeReport) -> frozenset[str]:
    """The classes (changed, failed, drift) a report belongs to; empty for a quiet run."""
    classes = set()
    changed_ops = report.summary.operations.changed or report.summary.hosts.changed
    if report.status in ("changed", "drift_corrected") or (
        report.status in ("partial", "interrupted") and changed_ops
    ):
        classes.add("changed")
    if report.status in _FAILED:
        classes.add("failed")
    if report.status in _DRIFT:
        classes.add("drift")
    return frozenset(classes)


def wants(on: str | Iterable[str], report: ChangeReport) -> bool:
    """True if a notifier configured with `on` should get this report."""
    selected = {on} if isinstance(on, str) else set(on)
    unknown = selected - set(ON_VALUES)
    if unknown:
        raise ValueError(f"unknown notifier 'on' value(s) {sorted(unknown)}; use {ON_VALUES}")
    classes = report_classes(report)
    if "all" in selected:
        return bool(classes)
    return bool(classes & selected)
