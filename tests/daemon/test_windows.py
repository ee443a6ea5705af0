"""Sync windows: when a window is open (a table of times), what the policy decides while
they are closed (a table of rows), and an in-process agent on a real remote whose clock the
test moves: a commit waits outside the window and applies once it opens, without a new push
and without sleeping; a reconcile outside it only plans; an override runs and is recorded; a
rollback is not held and stays until a new commit."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from agent.config.models import WindowConfig
from agent.daemon.policy import (
    Advance,
    DeploymentFacts,
    HeadFacts,
    Run,
    Situation,
    Skip,
    Wait,
    decide,
)
from agent.daemon.windows import Closed, check
from agent.refusals import WindowClosed
from agent.vocab import Mode, Trigger
from tests.agent.receivers import http
from tests.daemon.helpers import pullinfra, runs
from tests.polling import wait_for

BERLIN = "Europe/Berlin"


def at(text: str, zone: str = "UTC") -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


def window(kind: str, schedule: str, duration: str, timezone: str = "UTC") -> WindowConfig:
    return WindowConfig(kind=kind, schedule=schedule, duration=duration, timezone=timezone)


EVENINGS = window("allow", "0 22 * * 1-5", "2h", BERLIN)  # Mon-Fri 22:00-24:00 in Berlin
FREEZE = window("deny", "30 22 * * *", "15m", BERLIN)  # every day 22:30-22:45 in Berlin

# (id, windows, now, open?, until when closed)
TIMES = [
    ("no windows: always open", [], at("2026-03-28 12:00"), True, None),
    ("allow: just before it opens", [EVENINGS], at("2026-03-27 21:59", BERLIN), False,
     at("2026-03-27 22:00", BERLIN)),
    ("allow: the minute it opens", [EVENINGS], at("2026-03-27 22:00", BERLIN), True, None),
    ("allow: the last second", [EVENINGS], at("2026-03-27 23:59:59", BERLIN), True, None),
    ("allow: closes at f + duration", [EVENINGS], at("2026-03-28 00:00", BERLIN), False,
     at("2026-03-30 22:00", BERLIN)),  # Saturday: crontab's 1-5 is Monday to Friday
    ("allow: Sunday is 0 in crontab", [window("allow", "0 9 * * 0", "1h")],
     at("2026-03-29 09:30"), True, None),
    ("allow: across the DST change (Berlin 22:00 is 20:00 UTC from March 30)", [EVENINGS],
     at("2026-03-30 20:30"), True, None),
    ("allow: the same UTC time was outside before it", [EVENINGS], at("2026-03-27 20:30"),
     False, at("2026-03-27 21:00")),
    ("deny wins inside an allow window", [EVENINGS, FREEZE], at("2026-03-27 22:40", BERLIN),
     False, at("2026-03-27 22:45", BERLIN)),
    ("deny alone: open outside it", [FREEZE], at("2026-03-27 12:00", BERLIN), True, None),
    ("deny alone: closed inside, until its end", [FREEZE], at("2026-03-27 22:30", BERLIN),
     False, at("2026-03-27 22:45", BERLIN)),
    ("overlapping firings extend the window", [window("deny", "*/10 * * * *", "15m")],
     at("2026-03-27 12:03"), False, None),
]


@pytest.mark.parametrize(("windows", "now", "is_open", "until"),
                         [row[1:] for row in TIMES], ids=[row[0] for row in TIMES])
def test_window_table(windows, now, is_open, until) -> None:
    closed = check(windows, now)
    assert (closed is None) == is_open
    if closed is not None:
        assert closed.until == until
        assert closed.reason.startswith(("inside the deny window", "outside every allow"))


def test_a_deny_window_that_never_closes_waits_with_no_end() -> None:
    closed = check([window("deny", "* * * * *", "5m")], at("2026-03-27 12:00"))
    assert closed is not None and closed.until is None


@pytest.mark.parametrize(("field", "value", "message"), [
    ("schedule", "0 22 * *", "needs 5 fields"),
    ("schedule", "0 25 * * *", "higher than the maximum"),
    ("schedule", "0 22 * * 8", "is not a day"),
    ("timezone", "Mars/Olympus", "not a known time zone"),
    ("duration", "0", "greater than 0"),
])
def test_a_bad_window_is_refused_naming_the_key(field: str, value: str, message: str) -> None:
    fields = {"kind": "allow", "schedule": "0 22 * * *", "duration": "1h", "timezone": "UTC",
              field: value}
    with pytest.raises(ValidationError) as refused:
        WindowConfig(**fields)
    assert message in str(refused.value) and field in str(refused.value)


A, B = "a" * 40, "b" * 40
NOW = at("2026-03-27 12:00")
SHUT = Closed("outside every allow window: allow ...", NOW + 3600)

# (id, facts, trigger, head, extra situation fields, decision) with the windows closed
POLICY = [
    ("a poll of a new commit waits", DeploymentFacts("web", applied=A), Trigger.POLL,
     HeadFacts(B), {}, Wait(SHUT.reason, SHUT.until)),
    ("a webhook waits", DeploymentFacts("web", applied=A), Trigger.WEBHOOK, HeadFacts(B), {},
     Wait(SHUT.reason, SHUT.until)),
    ("a first run waits too", DeploymentFacts("web"), Trigger.POLL, HeadFacts(A), {},
     Wait(SHUT.reason, SHUT.until)),
    ("a due retry waits", DeploymentFacts("web", applied=A, attempted=B, attempts=1,
                                          last_attempt_at=0.0), Trigger.POLL, HeadFacts(B),
     {}, Wait(SHUT.reason, SHUT.until)),
    ("a manual trigger waits", DeploymentFacts("web", applied=A), Trigger.MANUAL,
     HeadFacts(B), {}, Wait(SHUT.reason, SHUT.until)),
    ("a manual override runs, with its reason", DeploymentFacts("web", applied=A),
     Trigger.MANUAL, HeadFacts(B), {"override_window": "hotfix"},
     Run(Trigger.MANUAL, Mode.APPLY, B, A, window_override="hotfix")),
    ("an override on a poll is no override", DeploymentFacts("web", applied=A), Trigger.POLL,
     HeadFacts(B), {"override_window": "hotfix"}, Wait(SHUT.reason, SHUT.until)),
    ("a reconcile only plans", DeploymentFacts("web", applied=A), Trigger.RECONCILE,
     HeadFacts(B), {}, Run(Trigger.RECONCILE, Mode.PLAN, A, A)),
    ("a rollback is an operator's act: it runs", DeploymentFacts("web", applied=B),
     Trigger.ROLLBACK, HeadFacts(B), {"requested": A}, Run(Trigger.ROLLBACK, Mode.APPLY, A, B)),
    ("nothing new is still nothing", DeploymentFacts("web", applied=A), Trigger.POLL,
     HeadFacts(A), {}, Skip("already applied")),
    ("a change outside the paths advances (no host is touched)",
     DeploymentFacts("web", applied=A, paths=("app",)), Trigger.POLL,
     HeadFacts(B, ("docs/x",)), {}, Advance(B)),
]


@pytest.mark.parametrize(("facts", "trigger", "head", "extra", "expected"),
                         [row[1:] for row in POLICY], ids=[row[0] for row in POLICY])
def test_policy_while_the_windows_are_closed(facts, trigger, head, extra, expected) -> None:
    situation = Situation(deployment=facts, trigger=trigger, head=head, now=NOW, window=SHUT,
                          **extra)
    assert decide(situation) == expected
    # The same situation with the windows open decides as if there were none.
    opened = Situation(deployment=facts, trigger=trigger, head=head, now=NOW, **extra)
    assert not isinstance(decide(opened), Wait)


# ---- the agent, in process, with a clock the test moves ----

WINDOW = '''
[[deployment.windows]]
kind = "allow"
schedule = "0 22 * * *"
duration = "1h"
timezone = "Europe/Berlin"
'''
INSIDE = at("2026-06-01 22:10", BERLIN)
OUTSIDE = at("2026-06-01 12:00", BERLIN)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _gauge(agent) -> str:
    body = agent.metrics.exposition().decode()
    line = next(x for x in body.splitlines()
                if x.startswith('pullinfra_deployment_window_open{deployment="site"}'))
    return line.split()[-1]


def test_a_commit_waits_for_the_window_then_applies_without_a_new_push(fleet, make_agent):
    clock = Clock(INSIDE)
    first = fleet.push_site()
    config = fleet.config(extra=WINDOW)
    agent = make_agent(config, clock=clock)
    agent.poll()
    assert agent.wait_idle()
    assert agent.db.last_applied("site") == first and _gauge(agent) == "1.0"

    clock.now = OUTSIDE
    second = fleet.push_site(a="A2\n", message="second")
    for _ in range(3):  # polls outside the window: the commit waits, nothing is recorded
        agent.poll()
        assert agent.wait_idle()
    assert [r.revision for r in runs(fleet.state)] == [first]
    assert agent.db.last_applied("site") == first
    assert (fleet.target / "a.txt").read_text() == "A1\n"
    assert _gauge(agent) == "0.0"

    # Reconcile outside the window: drift is found and reported, not corrected.
    (fleet.target / "b.txt").write_text("tampered\n")
    agent.reconcile()
    assert agent.wait_idle()
    planned = runs(fleet.state)[-1]
    assert (planned.trigger, planned.mode, planned.status, planned.revision) == (
        "reconcile", "plan", "drift_detected", first)
    assert (fleet.target / "b.txt").read_text() == "tampered\n"

    # The window opens: the next poll tick (no new push) applies the waiting commit.
    clock.now = INSIDE + 86400
    agent.poll()
    assert agent.wait_idle()
    applied = runs(fleet.state)[-1]
    assert (applied.trigger, applied.revision, applied.status) == ("poll", second, "changed")
    assert applied.window_override is None
    assert (fleet.target / "a.txt").read_text() == "A2\n"
    assert _gauge(agent) == "1.0"


def test_an_override_runs_outside_the_window_and_is_recorded(fleet, make_agent):
    clock = Clock(INSIDE)
    fleet.push_site()
    config = fleet.config(extra=WINDOW)
    agent = make_agent(config, clock=clock)
    agent.start()  # HTTP, and the first poll at once
    wait_for(lambda: agent.db.last_applied("site"), 60, "the first commit applied")
    assert agent.wait_idle()

    clock.now = OUTSIDE
    second = fleet.push_site(a="A2\n", message="hotfix")
    with pytest.raises(WindowClosed) as refused:
        agent.trigger("site")
    assert "--override-window --reason" in refused.value.message
    plain = pullinfra("trigger", "site", "--config", str(config))
    assert plain.returncode == 1 and "outside its sync windows" in plain.stderr
    no_reason = pullinfra("trigger", "site", "--override-window", "--config", str(config))
    assert no_reason.returncode == 2 and "--reason" in no_reason.stderr
    status, _, body = http("POST", f"{fleet.url}/api/trigger",
                           body=json.dumps({"deployment": "site",
                                            "override_window": True}).encode(),
                           headers={"Authorization": "Bearer tok"})
    assert status == 400 and b"reason" in body
    assert len(runs(fleet.state)) == 1

    done = pullinfra("trigger", "site", "--override-window", "--reason", "INC-42 hotfix",
                     "--config", str(config))
    assert done.returncode == 0, done.stderr
    wait_for(lambda: len(runs(fleet.state)) == 2, 60, "the overriding run")
    assert agent.wait_idle()
    run = runs(fleet.state)[-1]
    assert (run.trigger, run.revision, run.status, run.window_override) == (
        "manual", second, "changed", "INC-42 hotfix")
    assert (fleet.target / "a.txt").read_text() == "A2\n"
    status, _, body = http("GET", f"{fleet.url}/api/runs/{run.id}",
                           headers={"Authorization": "Bearer tok"})
    assert status == 200 and json.loads(body)["window_override"] == "INC-42 hotfix"
    listed = pullinfra("history", "--json", "--config", str(config))
    assert json.loads(listed.stdout)[0]["window_override"] == "INC-42 hotfix"
    shown = pullinfra("show", str(run.id), "--config", str(config))
    assert "ran outside the sync windows: INC-42 hotfix" in shown.stdout, shown.stdout


def test_a_rollback_is_not_held_by_the_windows_and_stays_until_a_new_commit(fleet, make_agent):
    clock = Clock(INSIDE)
    first = fleet.push_site()
    agent = make_agent(fleet.config(extra=WINDOW), clock=clock)
    agent.poll()
    assert agent.wait_idle()
    second = fleet.push_site(a="A2\n", message="second")
    agent.poll()
    assert agent.wait_idle()
    assert agent.db.last_applied("site") == second

    clock.now = OUTSIDE
    assert agent.rollback("site")["revision"] == first
    assert agent.wait_idle()
    run = runs(fleet.state)[-1]
    assert (run.trigger, run.revision, run.previous_revision, run.status) == (
        "rollback", first, second, "changed")
    assert (fleet.target / "a.txt").read_text() == "A1\n"

    clock.now = INSIDE + 86400  # open again, the head is still the second commit: no run
    agent.poll()
    assert agent.wait_idle()
    assert len(runs(fleet.state)) == 3 and agent.db.last_applied("site") == first
    third = fleet.push_site(a="A3\n", message="third")
    agent.poll()
    assert agent.wait_idle()
    assert (runs(fleet.state)[-1].revision, agent.db.pinned("site")) == (third, None)
