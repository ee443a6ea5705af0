"""The words every part of pullinfra shares: run statuses, triggers, modes, stages, host and
operation statuses, and the sets derived from them.

They are `StrEnum`s, so each member is also the plain string that the ChangeReport schema,
the state DB, metric labels and logs carry (`RunStatus.FAILED == "failed"`). A status is
spelled here once; everywhere else names the member. docs/architecture.md shows where each
one is set.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """How a run ended (the ChangeReport's `status`), plus the states a run row passes
    through before or instead of that: `running`, and `superseded` for a commit that a newer
    one overtook before it ran."""

    UNCHANGED = "unchanged"
    CHANGED = "changed"
    DRIFT_CORRECTED = "drift_corrected"
    DRIFT_DETECTED = "drift_detected"
    FAILED = "failed"
    PARTIAL = "partial"
    INTERRUPTED = "interrupted"
    SUPERSEDED = "superseded"
    RUNNING = "running"


class Trigger(StrEnum):
    """Why a run started."""

    POLL = "poll"
    WEBHOOK = "webhook"
    MANUAL = "manual"
    RECONCILE = "reconcile"
    RETRY = "retry"
    ROLLBACK = "rollback"


class Mode(StrEnum):
    """Whether a run changes hosts (`apply`) or only says what it would change (`plan`)."""

    APPLY = "apply"
    PLAN = "plan"


class Stage(StrEnum):
    """The five stages of a run, in order."""

    SETUP = "setup"
    CONNECT = "connect"
    PREPARE = "prepare"
    EXECUTE = "execute"
    DISCONNECT = "disconnect"


class HostStatus(StrEnum):
    """How a run ended for one host."""

    CHANGED = "changed"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    UNREACHABLE = "unreachable"
    INTERRUPTED = "interrupted"


class NotifyOn(StrEnum):
    """Which reports a notifier wants (its `on`); `all` is the union of the other three."""

    CHANGED = "changed"
    FAILED = "failed"
    DRIFT = "drift"
    ALL = "all"


class OpStatus(StrEnum):
    """How one operation ended on one host."""

    CHANGED = "changed"
    NO_CHANGE = "no_change"
    SKIPPED = "skipped"
    FAILED = "failed"


class WaveStatus(StrEnum):
    """How one wave of a rollout ended (the report's `rollout.waves[].status`)."""

    PASSED = "passed"
    FAILED = "failed"
    """Too many of its hosts failed, or one of its gates failed: the rollout halted here."""
    ROLLED_BACK = "rolled_back"
    """Failed, and its hosts were put back on the last applied commit."""
    HALTED = "halted"
    """Never ran: an earlier wave halted the rollout."""
    SKIPPED = "skipped"
    """Never ran: no host was left for it."""


class GateStatus(StrEnum):
    """How one health gate ended after a wave."""

    PASSED = "passed"
    FAILED = "failed"


STAGES: tuple[Stage, ...] = tuple(Stage)
TRIGGERS: tuple[Trigger, ...] = tuple(Trigger)
# What a ChangeReport may say: every RunStatus but the two that only run rows carry.
REPORT_STATUSES: tuple[RunStatus, ...] = tuple(
    s for s in RunStatus if s not in (RunStatus.SUPERSEDED, RunStatus.RUNNING))
# Runs that did not bring the hosts to the commit: the commit is retried with backoff.
FAILED_STATUSES: frozenset[RunStatus] = frozenset({RunStatus.FAILED, RunStatus.PARTIAL})
# Runs that brought every host to their commit: what `pullinfra rollback` may go back to.
APPLIED_STATUSES: frozenset[RunStatus] = frozenset({RunStatus.CHANGED, RunStatus.UNCHANGED,
                                                     RunStatus.DRIFT_CORRECTED})
# Runs that did not finish: the commit is neither applied nor counted as an attempt.
UNFINISHED_STATUSES: frozenset[RunStatus] = frozenset({RunStatus.INTERRUPTED,
                                                        RunStatus.RUNNING})
# Runs that left something for an operator to look at (a warning log line, exit code 1).
TROUBLE_STATUSES: frozenset[RunStatus] = FAILED_STATUSES | {RunStatus.INTERRUPTED}
# A run row in one of these is over: it is never written again.
FINAL_STATUSES: frozenset[RunStatus] = frozenset(RunStatus) - {RunStatus.RUNNING}
DRIFT_STATUSES: frozenset[RunStatus] = frozenset({RunStatus.DRIFT_CORRECTED,
                                                   RunStatus.DRIFT_DETECTED})
