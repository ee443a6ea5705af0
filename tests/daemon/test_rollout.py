"""Rollout waves without hosts: which hosts each wave takes, how many failures it allows,
how a halt is kept in the state DB and read by the policy, and a report's rollout section
against the schema. The waves on real hosts: tests/acceptance_agent/test_rollout.py."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from pydantic import ValidationError

from agent.config.models import RolloutConfig, WaveConfig
from agent.daemon import policy
from agent.daemon.rollout import REST, allowed_failures, plan_waves
from agent.engine.inventory import Inventory, load_inventory
from agent.report.model import ChangeReport
from agent.state import StateDB
from agent.vocab import Mode, Trigger

ROOT = Path(__file__).resolve().parents[2]
A, B, C = "a" * 40, "b" * 40, "c" * 40


@pytest.fixture
def inventory(tmp_path: Path) -> Inventory:
    """Twelve hosts: two in "canary", ten in "web", in that order."""
    path = tmp_path / "inventory.py"
    path.write_text('canary = ["c1", "c2"]\n'
                    f"web = {[f'w{n:02}' for n in range(1, 11)]!r}\n")
    return load_inventory(path)


def _waves(config: dict, inventory: Inventory) -> list[tuple[str, tuple[str, ...]]]:
    return [(w.name, w.hosts) for w in plan_waves(RolloutConfig(**config), inventory)]


def test_canary_group_then_ten_percent_then_the_rest(inventory: Inventory) -> None:
    waves = _waves({"waves": [{"name": "canary", "group": "canary"}, {"percent": 10},
                              {"name": "all", "percent": 100}]}, inventory)
    web = tuple(f"w{n:02}" for n in range(1, 11))
    assert waves == [("canary", ("c1", "c2")), ("wave 2", web[:1]), ("all", web[1:])]


def test_percent_rounds_up_and_an_empty_wave_stays_empty(inventory: Inventory) -> None:
    waves = _waves({"waves": [{"group": "nosuch"}, {"percent": 25}, {"hosts": ["c1", "zz"]},
                              {"percent": 1}]}, inventory)
    assert waves[0] == ("wave 1", ())
    assert waves[1] == ("wave 2", ("c1", "c2", "w01"))  # ceil(12 * 25%) = 3
    assert waves[2] == ("wave 3", ())  # c1 already went; zz is not in the inventory
    assert waves[3] == ("wave 4", ("w02",))  # ceil(9 * 1%) = 1
    assert waves[4] == (REST, tuple(f"w{n:02}" for n in range(3, 11)))


def test_allowed_failures() -> None:
    assert allowed_failures(WaveConfig(percent=50), 10) == 0
    assert allowed_failures(WaveConfig(percent=50, max_failed_hosts=2), 10) == 2
    assert allowed_failures(WaveConfig(percent=50, max_failed_percent=25), 10) == 2
    assert allowed_failures(None, 10) == 0


@pytest.mark.parametrize("wave, words", [
    ({}, "exactly one of"),
    ({"group": "a", "percent": 5}, "exactly one of"),
    ({"percent": 0}, "greater than 0"),
    ({"percent": 5, "max_failed_hosts": 1, "max_failed_percent": 5}, "not both"),
])
def test_a_wave_is_refused_when_it_says_too_little_or_too_much(wave: dict, words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        WaveConfig(**wave)


def test_wave_names_are_unique() -> None:
    with pytest.raises(ValidationError, match="used twice"):
        RolloutConfig(waves=[{"name": "x", "percent": 5}, {"name": "x", "percent": 100}])


def test_a_halt_is_kept_until_a_commit_is_applied_or_fails_otherwise(tmp_path: Path) -> None:
    with StateDB(tmp_path / "state.db") as db:
        db.set_applied("web", A)
        db.record_attempt("web", B, "gate failed", halted=True)
        row = db.applied_state("web")
        assert (row.revision, row.attempted_revision, row.halted_revision) == (A, B, B)
        db.record_attempt("web", C, "host failed")  # a newer commit failed as before
        assert db.applied_state("web").halted_revision is None
        db.record_attempt("web", C, "gate failed", halted=True)
        db.set_applied("web", A)  # e.g. a rollback
        assert db.applied_state("web").halted_revision is None


def _halted(**kw) -> policy.DeploymentFacts:
    return policy.DeploymentFacts(name="web", applied=A, attempted=B, attempts=1,
                                  last_attempt_at=0.0, halted=B, **kw)


def _decide(d: policy.DeploymentFacts, trigger: Trigger, head: str | None
            ) -> policy.Decision:
    return policy.decide(policy.Situation(
        deployment=d, trigger=trigger, head=policy.HeadFacts(head) if head else None,
        now=1000.0, retry_delay=lambda attempts: 0.0))


def test_a_halted_commit_waits_for_a_new_commit_or_a_manual_trigger() -> None:
    for trigger in (Trigger.POLL, Trigger.WEBHOOK):
        decision = _decide(_halted(), trigger, B)
        assert isinstance(decision, policy.Skip) and "halted" in decision.reason
    assert isinstance(_decide(_halted(), Trigger.RECONCILE, B), policy.Skip)
    assert _decide(_halted(), Trigger.MANUAL, B) == policy.Run(Trigger.MANUAL, Mode.APPLY, B, A)
    assert _decide(_halted(), Trigger.POLL, C) == policy.Run(Trigger.POLL, Mode.APPLY, C, A)
    # Without the halt, the same failed commit is retried (backoff over).
    plain = policy.DeploymentFacts(name="web", applied=A, attempted=B, attempts=1,
                                   last_attempt_at=0.0)
    assert _decide(plain, Trigger.POLL, B) == policy.Run(Trigger.RETRY, Mode.APPLY, B, A)


def test_a_rollout_section_matches_the_schema_and_is_absent_without_waves() -> None:
    schema = json.loads((ROOT / "docs" / "change-report.schema.json").read_text())
    base = {"run_id": 7, "agent": {"instance": "i", "version": "0"}, "deployment": "web",
            "trigger": "poll", "mode": "apply", "source": {"revision": B},
            "started_at": "2026-01-01T00:00:00+00:00",
            "finished_at": "2026-01-01T00:00:01+00:00", "duration_seconds": 1.0,
            "status": "failed"}
    plain = ChangeReport.from_dict(base).to_dict()
    assert "rollout" not in plain
    jsonschema.validate(plain, schema)
    rollout = {"waves": [
        {"name": "canary", "hosts": ["c1"], "status": "rolled_back",
         "gates": [{"gate": "command: true", "status": "failed", "detail": "exit 1",
                    "duration_seconds": 0.2}]},
        {"name": "rest", "hosts": ["w01"], "status": "halted", "gates": []}],
        "halted": True, "halted_at": "canary", "reason": "gate command: true failed",
        "rolled_back": {"revision": A, "hosts": ["c1"], "status": "changed", "error": None}}
    report = ChangeReport.from_dict({**base, "rollout": rollout}).to_dict()
    assert report["rollout"] == rollout
    jsonschema.validate(report, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**report, "rollout": {**rollout, "halted_at": 3}}, schema)
