"""The decision policy as a table: every row of agent/daemon/policy.py's docstring and its
edge cases, as pure calls (no agent, no threads, no sleeps, no clock)."""

from __future__ import annotations

import pytest

from agent.daemon.policy import (
    Advance,
    DeploymentFacts,
    HeadFacts,
    Overtaken,
    Refuse,
    RefusedHead,
    RetryAt,
    Run,
    Situation,
    Skip,
    decide,
    decide_refusal,
)
from agent.vocab import Mode, Trigger

A, B, C, D = "a" * 40, "b" * 40, "c" * 40, "d" * 40
NOW = 1_000_000.0
T = Trigger


def facts(**kw) -> DeploymentFacts:
    return DeploymentFacts(name="web", **kw)


def situation(d: DeploymentFacts, trigger: Trigger, head: HeadFacts | None, **kw) -> Situation:
    kw.setdefault("retry_delay", lambda attempts: 60.0 * 2 ** (attempts - 1))
    return Situation(deployment=d, trigger=trigger, head=head, now=NOW, **kw)


FAILED_B = dict(applied=A, attempted=B, attempts=1, last_attempt_at=NOW - 30)

ROWS = [
    # (id, deployment facts, trigger, head, extra situation fields, decision)
    ("suspended skips a poll", facts(suspended=True, applied=A), T.POLL, HeadFacts(B), {},
     Skip("suspended")),
    ("suspended skips a reconcile", facts(suspended=True, applied=A), T.RECONCILE,
     HeadFacts(A), {}, Skip("suspended")),
    ("suspend while a manual run was queued", facts(suspended=True, applied=A), T.MANUAL,
     HeadFacts(B), {}, Skip("suspended")),
    ("reconcile with nothing applied", facts(), T.RECONCILE, HeadFacts(A), {},
     Skip("nothing applied yet")),
    ("reconcile keeps off a failed newer commit", facts(**FAILED_B), T.RECONCILE,
     HeadFacts(B), {}, Skip("a newer failed commit awaits its retry")),
    ("reconcile re-applies the applied commit", facts(applied=A), T.RECONCILE, HeadFacts(B),
     {}, Run(T.RECONCILE, Mode.APPLY, A, A)),
    ("reconcile of a failed applied commit still runs",
     facts(applied=A, attempted=A, attempts=2), T.RECONCILE, HeadFacts(A), {},
     Run(T.RECONCILE, Mode.APPLY, A, A)),
    ("reconcile in detect mode plans", facts(applied=A), T.RECONCILE, HeadFacts(A),
     {"reconcile_applies": False}, Run(T.RECONCILE, Mode.PLAN, A, A)),
    ("reconcile of a plan deployment plans", facts(applied=A, mode=Mode.PLAN), T.RECONCILE,
     HeadFacts(A), {}, Run(T.RECONCILE, Mode.PLAN, A, A)),
    ("manual before any fetch runs the applied commit", facts(applied=A), T.MANUAL, None, {},
     Run(T.MANUAL, Mode.APPLY, A, A)),
    ("crash re-run before any fetch runs the cut commit", facts(applied=A), T.RETRY, None,
     {"requested": B}, Run(T.RETRY, Mode.APPLY, B, A)),
    ("manual with nothing at all", facts(), T.MANUAL, None, {},
     Skip("no commit fetched yet")),
    ("poll before any fetch", facts(applied=A), T.POLL, None, {},
     Skip("no commit fetched yet")),
    ("poll, head already applied", facts(applied=A), T.POLL, HeadFacts(A), {},
     Skip("already applied")),
    ("webhook, head already applied", facts(applied=A), T.WEBHOOK, HeadFacts(A), {},
     Skip("already applied")),
    ("manual runs even when the head is applied", facts(applied=A), T.MANUAL, HeadFacts(A),
     {}, Run(T.MANUAL, Mode.APPLY, A, A)),
    ("first run of a deployment", facts(), T.POLL, HeadFacts(A), {},
     Run(T.POLL, Mode.APPLY, A, None)),
    ("new head", facts(applied=A), T.WEBHOOK, HeadFacts(B, ("app/x",)), {},
     Run(T.WEBHOOK, Mode.APPLY, B, A)),
    ("plan deployment plans the new head", facts(applied=A, mode=Mode.PLAN), T.POLL,
     HeadFacts(B), {}, Run(T.POLL, Mode.PLAN, B, A)),
    ("paths: nothing under them changed", facts(applied=A, paths=("app",)), T.POLL,
     HeadFacts(B, ("docs/readme.md",)), {}, Advance(B)),
    ("paths: a change under them", facts(applied=A, paths=("app",)), T.POLL,
     HeadFacts(B, ("app/site.py",)), {}, Run(T.POLL, Mode.APPLY, B, A)),
    ("paths: a rename out of them counts (old and new name)",
     facts(applied=A, paths=("app",)), T.POLL, HeadFacts(B, ("app/x.py", "old/x.py")), {},
     Run(T.POLL, Mode.APPLY, B, A)),
    ("paths: changes unknown (no common history)", facts(applied=A, paths=("app",)), T.POLL,
     HeadFacts(B, None), {}, Run(T.POLL, Mode.APPLY, B, A)),
    ("paths: first run ignores them", facts(paths=("app",)), T.POLL,
     HeadFacts(B, ("docs/x",)), {}, Run(T.POLL, Mode.APPLY, B, None)),
    ("paths: a manual run ignores them", facts(applied=A, paths=("app",)), T.MANUAL,
     HeadFacts(B, ("docs/x",)), {}, Run(T.MANUAL, Mode.APPLY, B, A)),
    ("failed head, backoff not over", facts(**FAILED_B), T.POLL, HeadFacts(B), {},
     RetryAt(B, NOW + 30)),
    ("failed head, backoff over", facts(**{**FAILED_B, "last_attempt_at": NOW - 61}), T.POLL,
     HeadFacts(B), {}, Run(T.RETRY, Mode.APPLY, B, A)),
    ("failed head, second backoff doubles", facts(**{**FAILED_B, "attempts": 2}),
     T.WEBHOOK, HeadFacts(B), {}, RetryAt(B, NOW - 30 + 120)),
    ("failed head under --once runs now", facts(**FAILED_B), T.POLL, HeadFacts(B),
     {"once": True}, Run(T.RETRY, Mode.APPLY, B, A)),
    ("clock went back an hour: the wait is one backoff from now",
     facts(**{**FAILED_B, "last_attempt_at": NOW + 3600}), T.POLL, HeadFacts(B), {},
     RetryAt(B, NOW + 60)),
    ("clock went forward: the retry is due", facts(**{**FAILED_B, "last_attempt_at": 1.0}),
     T.POLL, HeadFacts(B), {}, Run(T.RETRY, Mode.APPLY, B, A)),
    ("a newer head than the failed one runs at once", facts(**FAILED_B), T.POLL,
     HeadFacts(C), {}, Run(T.POLL, Mode.APPLY, C, A)),
    ("manual runs a failed head at once", facts(**FAILED_B), T.MANUAL, HeadFacts(B), {},
     Run(T.MANUAL, Mode.APPLY, B, A)),
    ("crash re-run with a head runs the head", facts(applied=A), T.RETRY, HeadFacts(C),
     {"requested": B}, Run(T.RETRY, Mode.APPLY, C, A)),
    ("crash re-run of a commit a poll applied first", facts(applied=B), T.RETRY,
     HeadFacts(B), {"requested": B}, Skip("the commit the crash cut was applied since")),
    ("crash re-run of a cut reconcile runs the applied head", facts(applied=A), T.RETRY,
     HeadFacts(A), {}, Run(T.RETRY, Mode.APPLY, A, A)),
    ("overtaken commits that never ran are superseded", facts(applied=A), T.POLL,
     HeadFacts(D, overtaken=(Overtaken(B), Overtaken(C, ran=True))), {},
     Run(T.POLL, Mode.APPLY, D, A, supersede=(B,))),
    ("paths: only overtaken commits under them are superseded",
     facts(applied=A, paths=("app",)), T.POLL,
     HeadFacts(D, ("app/y",), overtaken=(Overtaken(B, ("docs/x",)), Overtaken(C, ("app/y",)),
                                         Overtaken("e" * 40, None))), {},
     Run(T.POLL, Mode.APPLY, D, A, supersede=(C, "e" * 40))),
    ("rollback runs the requested commit", facts(applied=B), T.ROLLBACK, HeadFacts(B),
     {"requested": A}, Run(T.ROLLBACK, Mode.APPLY, A, B)),
    ("rollback of a plan deployment plans", facts(applied=B, mode=Mode.PLAN), T.ROLLBACK,
     HeadFacts(B), {"requested": A}, Run(T.ROLLBACK, Mode.PLAN, A, B)),
    ("rollback of a suspended deployment", facts(applied=B, suspended=True), T.ROLLBACK,
     HeadFacts(B), {"requested": A}, Skip("suspended")),
    ("rollback with no commit named", facts(applied=B), T.ROLLBACK, HeadFacts(B), {},
     Skip("no commit to roll back to")),
    ("poll of the head a rollback left", facts(applied=A, pinned_head=B), T.POLL,
     HeadFacts(B), {}, Skip("rolled back: waits for a new commit")),
    ("webhook of the head a rollback left", facts(applied=A, pinned_head=B), T.WEBHOOK,
     HeadFacts(B), {}, Skip("rolled back: waits for a new commit")),
    ("a new commit after a rollback runs", facts(applied=A, pinned_head=B), T.POLL,
     HeadFacts(C), {}, Run(T.POLL, Mode.APPLY, C, A)),
    ("manual while rolled back re-runs the rolled-back-to commit",
     facts(applied=A, pinned_head=B), T.MANUAL, HeadFacts(B), {}, Run(T.MANUAL, Mode.APPLY, A, A)),
    ("crash re-run of a rollback stays on its commit", facts(applied=B, pinned_head=B),
     T.RETRY, HeadFacts(B), {"requested": A}, Run(T.RETRY, Mode.APPLY, A, B)),
]


@pytest.mark.parametrize(("deployment", "trigger", "head", "extra", "expected"),
                         [row[1:] for row in ROWS], ids=[row[0] for row in ROWS])
def test_policy(deployment, trigger, head, extra, expected):
    assert decide(situation(deployment, trigger, head, **extra)) == expected


def test_a_refused_head_is_recorded_unless_the_deployment_is_suspended():
    refused = RefusedHead(B, "forced", T.POLL)
    assert decide_refusal(facts(applied=A), refused) == Refuse(B, "forced")
    assert decide_refusal(facts(applied=A, suspended=True), refused) == Skip("suspended")


def test_every_trigger_has_a_row():
    assert {row[2] for row in ROWS} == set(Trigger)
