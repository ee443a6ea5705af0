"""Which commit `pullinfra rollback` goes back to, read from a real state DB's history (the
end-to-end rollback is tests/acceptance_agent/test_rollback.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.daemon.deployments import Request
from agent.daemon.rollback import last_good
from agent.state import StateDB
from agent.vocab import Mode, RunStatus, Trigger

A, B, C, D = "a" * 40, "b" * 40, "c" * 40, "d" * 40


def _record(db: StateDB, rows: list[tuple[Trigger, str, str | None, RunStatus, Mode]]) -> None:
    for trigger, revision, previous, status, mode in rows:
        run_id = db.start_run("web", trigger, mode, revision, previous)
        db.finish_run(run_id, status)


P, R, X = Trigger.POLL, Trigger.ROLLBACK, Trigger.RECONCILE
OK, FAILED, DRIFT = RunStatus.CHANGED, RunStatus.FAILED, RunStatus.DRIFT_DETECTED
APPLY, PLAN = Mode.APPLY, Mode.PLAN

# (id, runs oldest first: (trigger, revision, previous, status, mode), applied now, expected)
HISTORIES = [
    ("the commit before the applied one", [(P, A, None, OK, APPLY), (P, B, A, OK, APPLY)], B, A),
    ("a failed commit is no good commit",
     [(P, A, None, OK, APPLY), (P, C, A, FAILED, APPLY), (P, B, A, OK, APPLY)], B, A),
    ("a plan is no applied commit",
     [(P, A, None, OK, PLAN), (P, B, A, OK, APPLY)], B, None),
    ("reconciles of the applied commit do not count as another",
     [(P, A, None, OK, APPLY), (P, B, A, OK, APPLY), (X, B, B, RunStatus.DRIFT_CORRECTED,
                                                       APPLY), (X, B, B, DRIFT, PLAN)], B, A),
    ("a second rollback goes one further back, not to the commit the first one left",
     [(P, A, None, OK, APPLY), (P, B, A, OK, APPLY), (P, C, B, OK, APPLY),
      (R, B, C, OK, APPLY)], B, A),
    ("nothing earlier", [(P, A, None, OK, APPLY)], A, None),
    ("a failed rollback left nothing", [(P, A, None, OK, APPLY), (P, B, A, OK, APPLY),
                                        (R, A, B, FAILED, APPLY)], B, A),
    ("a commit a rollback left, then rolled back to, counts again",
     [(P, A, None, OK, APPLY), (P, B, A, OK, APPLY), (R, A, B, OK, APPLY),
      (R, B, A, OK, APPLY), (P, C, B, OK, APPLY)], C, B),
    ("back and forth by rollbacks: nothing left that no rollback fled",
     [(P, A, None, OK, APPLY), (P, B, A, OK, APPLY), (R, A, B, OK, APPLY),
      (R, B, A, OK, APPLY)], B, None),
    ("a new commit after a rollback: back to the rolled-back-to one",
     [(P, A, None, OK, APPLY), (P, B, A, OK, APPLY), (R, A, B, OK, APPLY),
      (P, D, A, OK, APPLY)], D, A),
]


@pytest.mark.parametrize(("rows", "applied", "expected"), [h[1:] for h in HISTORIES],
                         ids=[h[0] for h in HISTORIES])
def test_last_good_commit(tmp_path: Path, rows, applied: str, expected: str | None) -> None:
    with StateDB.in_state_dir(tmp_path) as db:
        _record(db, rows)
        assert last_good(db.list_runs("web"), applied) == expected


def test_a_rollback_and_an_override_survive_folding_into_one_follow_up() -> None:
    """Requests that arrive during a run fold into one follow-up (agent/daemon/deployments.py):
    a rollback is never folded away, the newer rollback's commit wins, and an override's
    reason stays when a plain manual trigger folds into it (or it into one)."""
    override = Request(Trigger.MANUAL, override_window="INC-1")
    plain = Request(Trigger.MANUAL)
    assert plain.merged(override) == override and override.merged(plain) == override
    back_to_a, back_to_b = Request(Trigger.ROLLBACK, A), Request(Trigger.ROLLBACK, B)
    for other in (Request(Trigger.POLL), Request(Trigger.WEBHOOK), plain, override):
        assert back_to_a.merged(other) == back_to_a and other.merged(back_to_a) == back_to_a
    assert back_to_a.merged(back_to_b) == back_to_b
