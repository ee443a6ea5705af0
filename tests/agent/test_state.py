"""StateDB on real SQLite files: restarts, threads, crash recovery, outbox order, retention."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from agent.config import RetentionConfig
from agent.state import SCHEMA_VERSION, StateDB, StateError

REPORT = {
    "schema": "pullinfra/change-report/v1",
    "run_id": 1,
    "deployment": "web",
    "status": "partial",
    "stages": {"setup": 0.1, "connect": 0.5, "execute": 2.0},
    "hosts": [
        {"name": "web1", "status": "changed", "error": None, "operations": [
            {"name": "files.put /etc/motd", "status": "changed", "diff": "-a\n+b\n"}]},
        {"name": "web2", "status": "failed", "error": "exit 1", "operations": []},
    ],
}


@pytest.fixture
def db(tmp_path: Path) -> StateDB:
    with StateDB.in_state_dir(tmp_path / "state") as opened:
        yield opened


def test_run_lifecycle_and_restart(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    with StateDB.in_state_dir(state_dir) as db:
        run_id = db.start_run("web", "poll", "apply", "b" * 40, previous_revision="a" * 40,
                              author="Ada <ada@example.com>", message="Tune nginx",
                              started_at=100.0)
        assert db.get_run(run_id).status == "running"
        db.finish_run(run_id, "partial", REPORT, finished_at=103.5)
    assert (state_dir / "state.db").is_file()
    assert (state_dir / "state.db").stat().st_mode & 0o077 == 0
    with StateDB.in_state_dir(state_dir) as reopened:
        run = reopened.get_run(run_id)
        assert run is not None
        assert (run.status, run.trigger, run.revision) == ("partial", "poll", "b" * 40)
        assert run.previous_revision == "a" * 40 and run.message == "Tune nginx"
        assert run.duration_seconds == 3.5
        assert run.stages == REPORT["stages"]
        assert run.report["hosts"][0]["operations"][0]["diff"] == "-a\n+b\n"
        assert [(h.host, h.status, h.error) for h in reopened.host_results(run_id)] == [
            ("web1", "changed", None), ("web2", "failed", "exit 1")]
        assert reopened.get_run(run_id + 100) is None


def test_unknown_trigger_or_status_is_a_bug_not_a_row(db: StateDB) -> None:
    with pytest.raises(ValueError):
        db.start_run("web", "cron", "apply", "a" * 40)
    run_id = db.start_run("web", "manual", "apply", "a" * 40)
    with pytest.raises(ValueError):
        db.finish_run(run_id, "ok")
    with pytest.raises(KeyError):
        db.finish_run(run_id + 1, "failed")


def test_list_runs_filters_newest_first(db: StateDB) -> None:
    ids = [db.start_run(dep, "poll", "apply", f"{i:040d}") for i, dep in
           enumerate(["web", "db", "web", "web"])]
    db.finish_run(ids[0], "changed")
    assert [r.id for r in db.list_runs()] == list(reversed(ids))
    assert [r.id for r in db.list_runs(deployment="web", limit=2)] == [ids[3], ids[2]]
    assert [r.id for r in db.list_runs(status="changed")] == [ids[0]]


def test_crash_left_runs_are_marked_interrupted_after_restart(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    db = StateDB(path)
    done = db.start_run("web", "poll", "apply", "a" * 40)
    db.finish_run(done, "unchanged")
    crashed = db.start_run("web", "webhook", "apply", "b" * 40, previous_revision="a" * 40)
    # No finish_run and no close(): the process dies mid-run.
    del db
    with StateDB(path) as restarted:
        interrupted = restarted.mark_interrupted_runs(now=500.0)
        assert [(r.id, r.status, r.revision, r.trigger) for r in interrupted] == [
            (crashed, "interrupted", "b" * 40, "webhook")]
        assert interrupted[0].finished_at == 500.0
        assert restarted.get_run(done).status == "unchanged"
        assert restarted.mark_interrupted_runs() == []


def test_superseded_commits_are_recorded(db: StateDB) -> None:
    run_id = db.record_superseded("web", "poll", "apply", "b" * 40, superseded_by="c" * 40,
                                  previous_revision="a" * 40, now=10.0)
    run = db.get_run(run_id)
    assert (run.status, run.superseded_by, run.finished_at) == ("superseded", "c" * 40, 10.0)


def test_applied_commit_and_retry_attempts(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with StateDB(path) as db:
        assert db.last_applied("web") is None
        assert db.record_attempt("web", "b" * 40, "boom", now=1.0) == 1
        assert db.record_attempt("web", "b" * 40, "boom again", now=2.0) == 2
        assert db.last_applied("web") is None
        assert db.record_attempt("web", "c" * 40, now=3.0) == 1, "a new commit starts over"
        db.set_applied("web", "c" * 40, now=4.0)
    with StateDB(path) as db:
        state = db.applied_state("web")
        assert (state.revision, state.applied_at, state.attempts) == ("c" * 40, 4.0, 0)
        assert db.record_attempt("web", "d" * 40, "x") == 1
        assert db.last_applied("web") == "c" * 40
        assert db.last_applied("db") is None


def test_suspension_persists_across_restart(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with StateDB(path) as db:
        db.suspend("web", reason="maintenance")
        db.suspend("web")
        assert db.is_suspended("web") and not db.is_suspended("db")
    with StateDB(path) as db:
        assert db.suspended() == ["web"]
        assert db.resume("web") is True
        assert db.resume("web") is False
    with StateDB(path) as db:
        assert not db.is_suspended("web")


def test_outbox_is_fifo_per_notifier_and_holds_back_behind_a_retry(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with StateDB(path) as db:
        first = db.outbox_put("audit", {"run_id": 1}, now=10.0)
        second = db.outbox_put("audit", '{"run_id": 2}', now=11.0)
        other = db.outbox_put("slack", b'{"run_id": 1}', now=12.0)
        assert db.outbox_depth() == 3 and db.outbox_depth("audit") == 2
        assert [i.id for i in db.outbox_due(now=20.0)] == [first, other]
        db.outbox_failed(first, next_at=100.0, error="connection refused")
        assert db.outbox_due(now=50.0, notifier="audit") == [], "report 2 must wait for 1"
        assert [i.id for i in db.outbox_due(now=50.0)] == [other]
    with StateDB(path) as db:
        head = db.outbox_due(now=100.0, notifier="audit")
        assert [(i.id, i.attempts, i.next_at, i.last_error) for i in head] == [
            (first, 1, 100.0, "connection refused")]
        assert head[0].payload == '{"run_id": 1}'
        db.outbox_done(first, now=101.0)
        assert [i.id for i in db.outbox_due(now=101.0, notifier="audit")] == [second]
        db.outbox_done(second)
        db.outbox_done(other)
        assert db.outbox_depth() == 0 and db.outbox_due(now=1e12) == []


def test_two_threads_write_at_once(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "state.db")
    errors: list[BaseException] = []

    def work(deployment: str) -> None:
        try:
            for i in range(50):
                run_id = db.start_run(deployment, "poll", "apply", f"{i:040d}")
                db.outbox_put(deployment, {"run": run_id})
                db.finish_run(run_id, "changed", {"hosts": [{"name": "h", "status": "changed"}]})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(name,)) for name in ("web", "db")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(db.list_runs(limit=1000)) == 100
    assert all(r.status == "changed" for r in db.list_runs(limit=1000))
    assert db.outbox_depth("web") == db.outbox_depth("db") == 50
    other_process_view = sqlite3.connect(tmp_path / "state.db")
    assert other_process_view.execute("SELECT COUNT(*) FROM host_results").fetchone()[0] == 100
    assert other_process_view.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other_process_view.close()
    db.close()


def test_retention_keeps_recent_runs_per_deployment(db: StateDB) -> None:
    for i in range(5):
        db.finish_run(db.start_run("web", "poll", "apply", None, started_at=1000.0 + i),
                      "unchanged")
    quiet = db.start_run("db", "poll", "apply", None, started_at=1000.0)
    db.finish_run(quiet, "changed", {"hosts": [{"name": "db1", "status": "changed"}]})
    running = db.start_run("web", "poll", "apply", None, started_at=0.0)
    removed = db.prune(RetentionConfig(runs=2, days=None))
    assert removed == 4
    assert [r.started_at for r in db.list_runs("web")] == [0.0, 1004.0]
    assert db.get_run(quiet) is not None and db.get_run(running) is not None
    old = db.outbox_put("audit", "{}", now=0.0)
    db.outbox_done(old, now=0.0)
    pending = db.outbox_put("audit", "{}", now=0.0)
    assert db.prune(RetentionConfig(runs=None, days=1), now=1000.0 + 86400 + 5) == 2
    assert [r.id for r in db.list_runs()] == [running]
    assert db.host_results(quiet) == []
    assert [i.id for i in db.outbox_pending()] == [pending]


def test_meta_and_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with StateDB(path) as db:
        db.meta_set("instance", "agent-1")
        db.meta_set("instance", "agent-2")
        assert db.meta_get("instance") == "agent-2" and db.meta_get("none") is None
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(StateError, match="newer than this agent"):
        StateDB(path)


def test_not_a_database_is_a_state_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError, match="cannot open"):
        StateDB(path)


def test_atomically_keeps_a_finished_run_and_its_report_together_or_neither(
        tmp_path: Path) -> None:
    revision = "a" * 40
    with StateDB(tmp_path / "state.db") as db:
        run_id = db.start_run("web", "poll", "apply", revision)
        with pytest.raises(RuntimeError), db.atomically():
            db.finish_run(run_id, "changed", REPORT)
            db.set_applied("web", revision)
            db.outbox_put("hook", REPORT)
            raise RuntimeError("killed in between")
        assert db.get_run(run_id).status == "running"
        assert db.last_applied("web") is None and db.outbox_depth() == 0
        with db.atomically():
            db.finish_run(run_id, "changed", REPORT)
            db.set_applied("web", revision)
            db.outbox_put("hook", REPORT)
        assert db.get_run(run_id).status == "changed"
        assert db.last_applied("web") == revision and db.outbox_depth() == 1
        db.meta_set("after", "1")  # writes outside it are their own transactions again
        assert db.meta_get("after") == "1"
