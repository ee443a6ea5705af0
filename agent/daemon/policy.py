"""What a deployment does when it is looked at: a pure function of what is known then.

`decide` reads the deployment's config and state row, the newest accepted head, the request
that woke it and the clock, and returns a decision; it reads no file, DB or clock itself, so
every rule below is a row of a table test (tests/daemon/test_policy.py). The worker gathers
the facts and carries the decision out (agent/daemon/worker.py).

The policy, in order:

| situation | decision |
|---|---|
| the deployment is suspended | skip |
| rollback | run the requested commit (sync windows do not apply: an operator's act) |
| reconcile, nothing applied yet | skip |
| reconcile while a newer commit failed or halted its rollout | skip (do not undo it) |
| reconcile | run the applied commit: apply if both reconcile and deployment apply, else plan |
| manual or retry with no head known yet | run the requested (or applied) commit, else skip |
| poll or webhook with no head known yet | skip |
| poll or webhook, head already applied | skip |
| poll or webhook, head is the one a rollback left behind | skip (pinned until a new commit) |
| manual or crash re-run, head is the one a rollback left behind | run the rolled-back-to commit |
| crash re-run of a new commit that another run has applied since (it is the head) | skip |
| poll or webhook, `paths` set, head touches none of them | advance: applied = head, no run |
| poll or webhook, head is the commit whose rollout halted | skip (no retry) |
| poll or webhook, head is the failed commit, its backoff not over | retry at the due time |
| poll or webhook, head is the failed commit, backoff over | run, trigger `retry` |
| otherwise | run the head, superseding the commits between applied and head that never ran |

Then the sync windows (agent/daemon/windows.py), when they are closed at `now`:

| the run decided above | decision |
|---|---|
| rollback, or manual with `override_window` | run (the override's reason is recorded) |
| reconcile | run as a plan: drift is reported, not corrected |
| poll, webhook, retry, manual | wait: nothing recorded; the first look once open runs it |

Retries are not delayed under `--once` (each invocation is itself the retry). A clock that
went backwards never pushes a retry further out than one backoff from now.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from agent.daemon.windows import Closed
from agent.source import paths_match
from agent.vocab import Mode, Trigger


@dataclass(frozen=True)
class DeploymentFacts:
    """A deployment's config and its state row, as the state DB holds them now."""

    name: str
    mode: Mode = Mode.APPLY
    paths: tuple[str, ...] = ()
    suspended: bool = False
    applied: str | None = None
    attempted: str | None = None
    attempts: int = 0
    last_attempt_at: float | None = None
    pinned_head: str | None = None
    """The branch head when a rollback moved the deployment back; polls leave that head be."""
    halted: str | None = None
    """The attempted commit whose rollout halted (agent/daemon/rollout.py), if it did."""


@dataclass(frozen=True)
class Overtaken:
    """A commit between the applied one and the head, with the paths it touched (None:
    unknown, so it counts as touching everything)."""

    revision: str
    touched: tuple[str, ...] | None = None
    ran: bool = False
    """It already has a run row (it ran, or is recorded as superseded already)."""


@dataclass(frozen=True)
class HeadFacts:
    """The newest accepted head and how it relates to the applied commit."""

    revision: str
    changed_paths: tuple[str, ...] | None = None
    """Files changed between the applied commit and the head; None: unknown (everything)."""
    overtaken: tuple[Overtaken, ...] = ()


@dataclass(frozen=True)
class RefusedHead:
    """A fetched head that may not be applied, and why (force-pushed, unverified)."""

    revision: str
    message: str
    trigger: Trigger


@dataclass(frozen=True)
class Situation:
    deployment: DeploymentFacts
    trigger: Trigger
    head: HeadFacts | None
    now: float
    requested: str | None = None
    """For a retry after a crash: the commit the interrupted run was on; for a rollback: the
    commit to go back to."""
    window: Closed | None = None
    """The deployment's sync windows are closed now (None: changes may apply)."""
    override_window: str | None = None
    """A manual trigger's reason to run outside the sync windows."""
    reconcile_applies: bool = True
    """[reconcile] mode = "apply" (else "detect": reconciles only plan)."""
    once: bool = False
    retry_delay: Callable[[int], float] = field(default=lambda attempts: 0.0)
    """Backoff before retry number `attempts` of a failed commit."""


@dataclass(frozen=True)
class Run:
    trigger: Trigger
    mode: Mode
    revision: str
    previous: str | None
    supersede: tuple[str, ...] = ()
    """Commits to record as superseded by this run, oldest first."""
    window_override: str | None = None
    """It runs while the sync windows are closed, for this reason an operator gave."""


@dataclass(frozen=True)
class Skip:
    reason: str


@dataclass(frozen=True)
class Advance:
    """Move the deployment to `revision` without a run (nothing it watches changed)."""

    revision: str


@dataclass(frozen=True)
class RetryAt:
    """The head is a failed commit; look again at `due` (a time.time() value)."""

    revision: str
    due: float


@dataclass(frozen=True)
class Wait:
    """The sync windows are closed: leave the commit pending, look again at `until` (None:
    no opening within a year)."""

    reason: str
    until: float | None


@dataclass(frozen=True)
class Refuse:
    """Record the refused head as a failed run of this deployment, and report it."""

    revision: str
    message: str


Decision = Run | Skip | Advance | RetryAt | Wait


def decide(s: Situation) -> Decision:
    decision = _decide(s)
    if s.window is None or not isinstance(decision, Run):
        return decision
    if decision.trigger == Trigger.ROLLBACK:
        return decision
    if s.override_window and decision.trigger == Trigger.MANUAL:
        return replace(decision, window_override=s.override_window)
    if decision.trigger == Trigger.RECONCILE:
        return replace(decision, mode=Mode.PLAN)
    return Wait(s.window.reason, s.window.until)


def _decide(s: Situation) -> Decision:
    d = s.deployment
    if d.suspended:
        return Skip("suspended")
    if s.trigger == Trigger.ROLLBACK:
        if s.requested is None:
            return Skip("no commit to roll back to")
        return Run(Trigger.ROLLBACK, d.mode, s.requested, d.applied)
    if s.trigger == Trigger.RECONCILE:
        return _reconcile(s)
    if s.head is None:
        target = s.requested or d.applied
        if s.trigger in (Trigger.MANUAL, Trigger.RETRY) and target:
            return Run(s.trigger, d.mode, target, d.applied)
        return Skip("no commit fetched yet")
    head = s.head
    trigger = s.trigger
    if trigger in (Trigger.POLL, Trigger.WEBHOOK):
        if head.revision == d.applied:
            return Skip("already applied")
        if head.revision == d.pinned_head:
            return Skip("rolled back: waits for a new commit")
        if d.paths and d.applied and not paths_match(d.paths, head.changed_paths):
            return Advance(head.revision)
        if d.halted is not None and d.halted == head.revision == d.attempted:
            return Skip("its rollout halted: it waits for a new commit, a manual trigger or "
                        "a rollback")
        if d.attempts and d.attempted == head.revision:
            due = _retry_due(s)
            if due is not None:
                return RetryAt(head.revision, due)
            trigger = Trigger.RETRY
    elif head.revision == d.pinned_head and (target := s.requested or d.applied):
        return Run(trigger, d.mode, target, d.applied)  # not the head a rollback left
    elif trigger == Trigger.RETRY and s.requested == head.revision == d.applied:
        return Skip("the commit the crash cut was applied since")
    return Run(trigger, d.mode, head.revision, d.applied, _superseded(d, head.overtaken))


def decide_refusal(d: DeploymentFacts, refused: RefusedHead) -> Refuse | Skip:
    """A fetched head that may not be applied is recorded as a failed run of each
    deployment, but a suspended one."""
    if d.suspended:
        return Skip("suspended")
    return Refuse(refused.revision, refused.message)


def _reconcile(s: Situation) -> Decision:
    d = s.deployment
    if d.applied is None:
        return Skip("nothing applied yet")
    if d.attempts and d.attempted != d.applied:
        return Skip("a newer failed commit awaits its retry")
    applies = s.reconcile_applies and d.mode == Mode.APPLY
    return Run(Trigger.RECONCILE, Mode.APPLY if applies else Mode.PLAN, d.applied, d.applied)


def _retry_due(s: Situation) -> float | None:
    """When the failed head may run again, or None when it may run now."""
    if s.once:
        return None
    d = s.deployment
    delay = s.retry_delay(d.attempts)
    last = d.last_attempt_at or 0.0
    due = min(last, s.now) + delay  # a clock set back never stretches the wait
    return due if s.now < due else None


def _superseded(d: DeploymentFacts, overtaken: Sequence[Overtaken]) -> tuple[str, ...]:
    return tuple(c.revision for c in overtaken
                 if not c.ran and (not d.paths or paths_match(d.paths, c.touched)))
