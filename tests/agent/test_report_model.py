"""The ChangeReport schema and the notifier filters."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from agent.report.build import Provenance, from_result
from agent.report.filters import report_classes, wants
from agent.report.model import SCHEMA, ChangeReport
from agent.vocab import Trigger
from tests.agent.receivers import sample_report


def test_a_contract_shaped_dict_round_trips_through_json() -> None:
    data = sample_report()
    report = ChangeReport.from_dict(data)
    again = ChangeReport.from_json(report.to_json())
    assert again == report
    out = json.loads(report.to_json())
    assert out["schema"] == SCHEMA
    assert set(out) == {
        "schema", "run_id", "agent", "deployment", "trigger", "mode", "source", "started_at",
        "finished_at", "duration_seconds", "stages", "status", "summary", "hosts",
    }
    assert set(out["hosts"][0]["operations"][0]) == {
        "name", "status", "commands", "diff", "stderr_tail", "exit_code", "duration_seconds",
    }
    assert out["hosts"][2]["error"].startswith("deploy.py:12:")
    assert report.failed_hosts[0].name == "web3"
    assert report.short_revision == "3f2a9c1d"


@pytest.mark.parametrize("mutate, where", [
    (lambda d: d.update(status="ok"), "status"),
    (lambda d: d.update(trigger="cron"), "trigger"),
    (lambda d: d.update(schema="pullinfra/change-report/v2"), "schema"),
    (lambda d: d.update(colour="red"), "colour"),
    (lambda d: d["hosts"][0]["operations"][0].update(status="success"), "status"),
    (lambda d: d["summary"]["hosts"].update(skipped=1), "skipped"),
    (lambda d: d["stages"].update(teardown=1.0), "stages"),
    (lambda d: d.pop("source"), "source"),
])
def test_schema_mismatches_are_loud(mutate, where: str) -> None:
    data = sample_report()
    mutate(data)
    with pytest.raises(ValidationError) as info:
        ChangeReport.from_dict(data)
    assert where in str(info.value)


@pytest.mark.parametrize("status, classes", [
    ("unchanged", set()),
    ("changed", {"changed"}),
    ("drift_corrected", {"changed", "drift"}),
    ("drift_detected", {"drift"}),
    ("failed", {"failed"}),
    ("partial", {"changed", "failed"}),
    ("interrupted", {"changed", "failed"}),
])
def test_report_classes(status: str, classes: set[str]) -> None:
    assert report_classes(ChangeReport.from_dict(sample_report(status=status))) == classes


def test_a_partial_run_that_changed_nothing_is_only_a_failure() -> None:
    data = sample_report(status="partial")
    data["summary"]["hosts"]["changed"] = 0
    data["summary"]["operations"]["changed"] = 0
    assert report_classes(ChangeReport.from_dict(data)) == {"failed"}


def test_wants_follows_on() -> None:
    quiet = ChangeReport.from_dict(sample_report(status="unchanged"))
    drift = ChangeReport.from_dict(sample_report(status="drift_detected"))
    failed = ChangeReport.from_dict(sample_report(status="failed"))
    assert not wants("all", quiet)
    assert wants("all", drift) and wants("all", failed)
    assert wants("drift", drift) and not wants("changed", drift)
    assert wants(["changed", "failed"], failed) and not wants(["drift"], failed)
    with pytest.raises(ValueError, match="unknown notifier"):
        wants("sometimes", failed)


def test_the_engines_change_report_validates() -> None:
    from datetime import UTC, datetime

    from agent.engine.result import HostResult, OpHostResult, RunResult

    run = RunResult(
        run_id="r-1", mode="apply",
        started_at=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        finished_at=datetime(2024, 5, 1, 12, 0, 3, tzinfo=UTC),
        stages={"setup": 0.1, "connect": 0.2, "prepare": 0.3, "execute": 2.0, "disconnect": 0.1},
        hosts=[
            HostResult("web1", "changed", operations=[
                OpHostResult("files.line", "changed", ["sed -i ..."], diff="-a\n+b\n")]),
            HostResult("web2", "failed", error="deploy.py:4: boom", operations=[
                OpHostResult("server.shell", "failed", ["false"], stderr_tail="boom",
                             exit_code=1)]),
            HostResult("web3", "unreachable", error="connect: timed out"),
        ],
    )
    built = from_result(run, Provenance(
        run_id=run.run_id, deployment="web", trigger=Trigger.RECONCILE,
        source={"url": "file:///srv/infra.git", "ref": "main", "revision": "c" * 40,
                "previous_revision": "b" * 40, "author": "Ada", "message": "m",
                "verified": True},
        agent={"instance": "agent-a", "shard": "0/3"},
    ))
    data = built.to_dict()
    report = ChangeReport.from_dict(data)
    assert (report.agent.instance, report.agent.shard) == ("agent-a", "0/3")
    assert report.source.revision == "c" * 40
    assert report.status == "partial"
    assert report.summary.hosts.unreachable == 1
    assert report.summary.operations.unchanged == 0
    assert [h.name for h in report.failed_hosts] == ["web2", "web3"]
    assert json.loads(report.to_json())["hosts"] == data["hosts"]


def test_the_engines_report_without_a_source_validates_too() -> None:
    from datetime import datetime

    from agent.engine.result import RunResult

    run = RunResult(run_id="r-2", mode="plan", started_at=datetime.now())
    data = from_result(run, Provenance(run_id=run.run_id)).to_dict()
    assert ChangeReport.from_dict(data).status == "unchanged"
    assert data["source"]["revision"] is None and data["trigger"] == "manual"
