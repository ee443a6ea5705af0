"""Issue 16, rollout waves: a real agent, a real git remote and four bed hosts.

A good commit passes its three waves (a canary group, half of the rest, the rest) with a
command gate after each; a bad one fails the canary's gate, halts the rollout, leaves the
other hosts untouched and puts the canary back on the good commit; `pullinfra history` and
`pullinfra show` (text and --json) say so, and so does /metrics. A later good commit resumes.
"""

from __future__ import annotations

import json
import time

import jsonschema

from tests.acceptance_agent.harness import DEPLOYMENT, ROOT, report_of, to_toml

CONF = "/etc/app.conf"
MARKS = "/srv/pullinfra-marks"
GATE = f'test "$(cat {CONF})" = good'


def _deploy() -> str:
    """Writes the committed config and appends the commit's tag: a host the rollout never
    reached has no line for that commit."""
    return ("from pyinfra.operations import files, server\n\n"
            f'files.put(name="app.conf", src="files/app.conf", dest="{CONF}")\n'
            f'server.shell(name="mark", commands=[\'echo "$(cat {CONF})" >> {MARKS}\'])\n')


def _tree(hosts, content: str) -> dict[str, str]:
    inventory = hosts[0].bed.inventory(list(hosts), groups={"canary": [hosts[0].name]})
    return {"inventory.py": inventory, "deploy.py": _deploy(), "files/app.conf": content}


ROLLOUT = {
    "on_failure": "rollback",
    "waves": [
        {"name": "canary", "group": "canary", "pause": "1s",
         "gates": [{"type": "command", "command": GATE, "timeout": "30s"}]},
        {"name": "half", "percent": 50},
        {"name": "rest", "percent": 100},
    ],
    "gates": [{"type": "command", "name": "app.conf is good", "command": GATE}],
}


def _rollout_agent(make_agent, remote):
    """The harness's agent, its deployment given ROLLOUT (an inline TOML table)."""
    agent = make_agent(url=remote.url)
    agent.config["deployment"][0]["rollout"] = ROLLOUT
    agent.config_path.write_text(to_toml(agent.config))
    return agent


def test_a_bad_commit_halts_at_the_canary_and_rolls_it_back_a_good_one_passes_all_waves(
        remote, bed_hosts, make_agent):
    hosts = bed_hosts(4)
    canary, others = hosts[0], hosts[1:]
    agent = _rollout_agent(make_agent, remote)

    # (b) a good commit passes every wave and every gate.
    good = remote.commit_and_push(_tree(hosts, "good"), "good config")
    agent.start()
    agent.wait_ready()
    run = agent.wait_finished(good, timeout=120)
    assert run["status"] == "changed", agent.describe()
    rollout = report_of(run)["rollout"]
    assert [(w["name"], w["hosts"], w["status"]) for w in rollout["waves"]] == [
        ("canary", [canary.name], "passed"),
        ("half", [h.name for h in others[:2]], "passed"),
        ("rest", [others[2].name], "passed")], rollout
    assert [[(g["gate"], g["status"]) for g in w["gates"]] for w in rollout["waves"]] == [
        [(f"command: {GATE}", "passed"), ("app.conf is good", "passed")],
        [("app.conf is good", "passed")], [("app.conf is good", "passed")]], rollout
    assert rollout["halted"] is False and rollout["halted_at"] is None
    assert rollout["rolled_back"] is None
    assert {h["name"] for h in report_of(run)["hosts"]} == {h.name for h in hosts}
    for host in hosts:
        assert host.read_text(CONF) == "good", host.name
    assert agent.scrape().value("pullinfra_rollout_halted", deployment=DEPLOYMENT) == 0
    assert agent.scrape().value("pullinfra_rollout_waves_total", deployment=DEPLOYMENT,
                                result="passed") == 3

    # (a) a bad commit fails the canary's gate: halted there, canary rolled back.
    bad = remote.commit_and_push(_tree(hosts, "bad"), "bad config")
    run = agent.wait_finished(bad, timeout=120)
    assert run["status"] == "failed", agent.describe()
    report = report_of(run)
    jsonschema.validate(report, json.loads(
        (ROOT / "docs" / "change-report.schema.json").read_text()))
    rollout = report["rollout"]
    assert rollout["halted"] is True and rollout["halted_at"] == "canary", rollout
    assert f"command: {GATE}" in rollout["reason"] and "failed" in rollout["reason"], rollout
    assert [(w["name"], w["status"]) for w in rollout["waves"]] == [
        ("canary", "rolled_back"), ("half", "halted"), ("rest", "halted")], rollout
    assert rollout["waves"][0]["gates"][0]["status"] == "failed"
    print("halted rollout:", json.dumps(rollout, indent=2))
    assert rollout["rolled_back"]["revision"] == good, rollout
    assert rollout["rolled_back"]["hosts"] == [canary.name]
    assert rollout["rolled_back"]["status"] == "changed", rollout
    assert [h["name"] for h in report["hosts"]] == [canary.name]  # only the canary ran it
    # The canary is back on the good content; the others never saw the bad commit.
    assert canary.read_text(CONF) == "good"
    assert (canary.read_text(MARKS) or "").split() == ["good", "bad", "good"]
    for host in others:
        assert host.read_text(CONF) == "good", host.name
        assert (host.read_text(MARKS) or "").split() == ["good"], host.name
    scrape = agent.scrape()
    assert scrape.value("pullinfra_rollout_halted", deployment=DEPLOYMENT) == 1
    assert scrape.value("pullinfra_rollout_waves_total", deployment=DEPLOYMENT,
                        result="rolled_back") == 1
    assert scrape.value("pullinfra_rollout_waves_total", deployment=DEPLOYMENT,
                        result="halted") == 2

    # A halted commit is not retried: polls go on (every second) and start nothing.
    count = len(agent.runs())
    time.sleep(4)
    assert len(agent.runs()) == count, agent.describe()

    # (c) history and show, --json and text, show the waves, the gates and the halt.
    history = {r["id"]: r for r in agent.history()}
    assert history[run["id"]]["rollout"]["halted_at"] == "canary"
    assert history[run["id"]]["rollout"]["rolled_back"]["revision"] == good
    shown = agent.show(run["id"])
    assert shown["rollout"] == rollout
    text = agent.cli("show", str(run["id"]))
    assert text.returncode == 0, text.stderr
    assert "halted at canary" in text.stdout, text.stdout
    assert f"rolled back {canary.name} to {good[:12]}" in text.stdout, text.stdout
    assert f"gate failed  command: {GATE}" in text.stdout, text.stdout
    listing = agent.cli("history")
    assert "halted at canary" in listing.stdout, listing.stdout

    # A new good commit resumes: every wave again, the halt cleared.
    fixed = remote.commit_and_push(_tree(hosts, "good\n"), "good again")
    run = agent.wait_finished(fixed, timeout=120)
    assert run["status"] == "changed", agent.describe()
    assert [w["status"] for w in report_of(run)["rollout"]["waves"]] == ["passed"] * 3
    assert agent.scrape().value("pullinfra_rollout_halted", deployment=DEPLOYMENT) == 0


def test_a_first_commit_that_fails_on_the_canary_halts_there_with_nothing_to_roll_back(
        remote, bed_hosts, make_agent):
    """A failing operation (no gate) beyond the canary's threshold halts the rollout; with no
    commit applied before, there is nothing to go back to, and the report says so."""
    hosts = bed_hosts(3)
    canary, others = hosts[0], hosts[1:]
    agent = make_agent(url=remote.url)
    agent.config["deployment"][0]["rollout"] = {
        "on_failure": "rollback",
        "waves": [{"name": "canary", "group": "canary"}, {"name": "all", "percent": 100}]}
    agent.config_path.write_text(to_toml(agent.config))
    files = _tree(hosts, "bad")
    files["deploy.py"] = _deploy() + (
        f'server.shell(name="check", commands=[\'test "$(cat {CONF})" = good\'])\n')
    bad = remote.commit_and_push(files, "a first commit that fails its check")
    agent.start()
    run = agent.wait_finished(bad, timeout=120)
    assert run["status"] == "failed", agent.describe()
    rollout = report_of(run)["rollout"]
    assert (rollout["halted"], rollout["halted_at"]) == (True, "canary"), rollout
    assert rollout["reason"] == (f"1 of 1 hosts of wave canary failed ({canary.name}); "
                                 "it allows 0"), rollout
    assert [(w["name"], w["status"]) for w in rollout["waves"]] == [
        ("canary", "failed"), ("all", "halted")]
    rolled = rollout["rolled_back"]
    assert (rolled["revision"], rolled["status"]) == (None, None), rolled
    assert "no commit was applied before" in rolled["error"]
    assert canary.read_text(CONF) == "bad"  # nothing to go back to: left as it is
    for host in others:
        assert host.read_text(CONF) is None and host.read_text(MARKS) is None, host.name
    assert agent.scrape().value("pullinfra_rollout_halted", deployment=DEPLOYMENT) == 1
    assert "halted at canary" in agent.cli("show", str(run["id"])).stdout
