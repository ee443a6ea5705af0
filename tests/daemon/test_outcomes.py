"""The outcome funnel: what each way of ending writes to the state DB, the metrics, the log
and the outbox, with a real StateDB and Metrics (no agent, no bed, no threads)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from agent.config.models import RetentionConfig
from agent.daemon.outcomes import Ending, Outcomes
from agent.metrics import Metrics
from agent.report.build import Provenance, before_hosts
from agent.report.model import ChangeReport
from agent.state import StateDB
from agent.vocab import Mode, RunStatus, Trigger

A, B = "a" * 40, "b" * 40


@pytest.fixture
def funnel(tmp_path):
    db = StateDB(tmp_path / "state.db")
    metrics = Metrics()
    metrics.init_deployment("web")
    posted: list[ChangeReport] = []
    outcomes = Outcomes(db, metrics, posted.append, retention=RetentionConfig)
    yield outcomes, db, metrics, posted
    db.close()


def _runs(metrics: Metrics, result: str, trigger: str = "poll") -> float:
    return metrics.registry.get_sample_value(
        "pullinfra_run_total", {"deployment": "web", "trigger": trigger, "result": result})


def _failed_report(run_id: int, error: str) -> ChangeReport:
    return before_hosts(Provenance(run_id=run_id, trigger=Trigger.POLL, deployment="web",
                                   source={"revision": B}),
                        Mode.APPLY, datetime.now(UTC), error, ["h1"])


def test_a_failed_run_is_stored_counted_logged_posted_and_retried(funnel, caplog):
    outcomes, db, metrics, posted = funnel
    run_id = db.start_run("web", Trigger.POLL, Mode.APPLY, B, A)
    report = _failed_report(run_id, "deploy.py:3: boom")
    with caplog.at_level(logging.INFO, logger="agent.daemon.outcomes"):
        outcomes.finish(Ending(run_id, "web", Trigger.POLL, Mode.APPLY, B, RunStatus.FAILED,
                               report=report, error="deploy.py:3: boom"))
    assert db.get_run(run_id).status == RunStatus.FAILED
    assert db.get_run(run_id).report["hosts"][0]["error"] == "deploy.py:3: boom"
    state = db.applied_state("web")
    assert (state.revision, state.attempted_revision, state.attempts) == (None, B, 1)
    assert _runs(metrics, "failed") == 1
    assert posted == [report]
    finished = [r for r in caplog.records if r.getMessage() == "run finished"]
    assert len(finished) == 1 and finished[0].levelno == logging.WARNING


def test_a_refused_head_is_reported_but_never_counts_as_an_attempt(funnel):
    outcomes, db, metrics, posted = funnel
    db.set_applied("web", A)
    run_id = db.start_run("web", Trigger.POLL, Mode.APPLY, B, A)
    outcomes.finish(Ending(run_id, "web", Trigger.POLL, Mode.APPLY, B, RunStatus.FAILED,
                           report=_failed_report(run_id, "force-pushed"),
                           error="force-pushed", attempt=False))
    state = db.applied_state("web")
    assert (state.revision, state.attempts) == (A, 0)
    assert db.get_run(run_id).status == RunStatus.FAILED
    assert len(posted) == 1 and _runs(metrics, "failed") == 1


def test_an_interrupted_run_changes_neither_applied_nor_attempts(funnel):
    outcomes, db, metrics, posted = funnel
    db.set_applied("web", A)
    run_id = db.start_run("web", Trigger.POLL, Mode.APPLY, B, A)
    outcomes.finish(Ending(run_id, "web", Trigger.POLL, Mode.APPLY, B,
                           RunStatus.INTERRUPTED, error="shutdown"))
    assert db.get_run(run_id).status == RunStatus.INTERRUPTED
    assert db.get_run(run_id).error == "shutdown"
    state = db.applied_state("web")
    assert (state.revision, state.attempts) == (A, 0)
    assert _runs(metrics, "interrupted") == 1 and posted == []


def test_a_crash_is_recovered_once_and_its_row_is_not_rewritten(funnel):
    outcomes, db, metrics, _ = funnel
    run_id = db.start_run("web", Trigger.WEBHOOK, Mode.APPLY, B, A)
    (cut,) = outcomes.recover_crashed()
    assert (cut.id, cut.revision) == (run_id, B)
    row = db.get_run(run_id)
    assert row.status == RunStatus.INTERRUPTED and row.error  # marked by the DB, kept as is
    assert _runs(metrics, "interrupted", trigger="webhook") == 1
    assert outcomes.recover_crashed() == []


def test_a_superseded_commit_is_recorded_but_is_no_run(funnel, caplog):
    outcomes, db, metrics, posted = funnel
    run_id = db.record_superseded("web", Trigger.POLL, Mode.APPLY, A, B)
    with caplog.at_level(logging.INFO, logger="agent.daemon.outcomes"):
        outcomes.finish(Ending(run_id, "web", Trigger.POLL, Mode.APPLY, A,
                               RunStatus.SUPERSEDED, recorded=True, superseded_by=B))
    assert db.get_run(run_id).status == RunStatus.SUPERSEDED
    assert db.applied_state("web") is None
    assert sum(_runs(metrics, result) for result in ("changed", "failed")) == 0
    assert posted == []
    (finished,) = [r for r in caplog.records if r.getMessage() == "run finished"]
    assert finished.levelno == logging.INFO


def test_grace_running_out_ends_every_running_run(funnel):
    outcomes, db, metrics, _ = funnel
    ids = [db.start_run("web", Trigger.POLL, Mode.APPLY, B, A) for _ in range(2)]
    outcomes.interrupt_running("the agent stopped: shutdown_grace ran out mid-run")
    assert {db.get_run(i).status for i in ids} == {RunStatus.INTERRUPTED}
    assert _runs(metrics, "interrupted") == 2
