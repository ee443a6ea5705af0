"""`pullinfra rollback`: a real agent, a real git remote and two bed hosts. Commit A, then B,
are applied; `pullinfra rollback app` puts A back as a run with trigger `rollback`; polls of
the unchanged head leave it there; a new commit C resumes; `--to` a named commit works; a
commit the agent may not go back to is refused clearly."""

from __future__ import annotations

import json

from tests.acceptance_agent.fleet import app_state, expected_state, tree
from tests.acceptance_agent.harness import API_TOKEN, DEPLOYMENT, wait_for
from tests.agent.gitfixtures import git


def test_rollback_applies_the_last_good_commit_and_holds_until_a_new_one(
        remote, bed_hosts, make_agent):
    hosts = bed_hosts(2)
    a = remote.commit_and_push(tree(hosts), "A")
    agent = make_agent(url=remote.url, poll_interval="1s")
    agent.start()
    agent.wait_ready()
    assert agent.wait_finished(a)["status"] == "changed", agent.describe()
    b = remote.commit_and_push(tree(hosts, {"a": "2"}), "B")
    assert agent.wait_finished(b)["status"] == "changed", agent.describe()
    assert all(app_state(h) == expected_state({"a": "2"}) for h in hosts)

    done = agent.cli("rollback", DEPLOYMENT)
    assert done.returncode == 0, done.stderr
    assert a in done.stdout
    run = agent.wait_finished(a, trigger="rollback")
    assert (run["status"], run["previous_revision"]) == ("changed", b), agent.describe()
    assert run["report"]["trigger"] == "rollback"
    assert {h["name"] for h in run["report"]["hosts"]} == {h.name for h in hosts}
    for host in hosts:
        assert app_state(host) == expected_state(), host.name
    assert agent.scrape().value("pullinfra_applied_revision_info", deployment=DEPLOYMENT,
                                revision=a) == 1

    # The head is still B: polls (one a second) do not apply it again.
    polls = agent.scrape().sum("pullinfra_source_fetch_total", result="success")
    wait_for(lambda: agent.scrape().sum("pullinfra_source_fetch_total", result="success")
             >= polls + 3, 60, "three more polls", describe=agent.describe)
    assert [r["trigger"] for r in agent.runs()] == ["poll", "poll", "rollback"]
    assert all(app_state(h) == expected_state() for h in hosts)
    history = agent.history()
    assert [(r["trigger"], r["revision"]) for r in history] == [
        ("poll", a), ("poll", b), ("rollback", a)]
    listed = agent.cli("history")
    assert "rollback" in listed.stdout, listed.stdout

    # A new commit on the branch resumes normal operation.
    c = remote.commit_and_push(tree(hosts, {"b": "3"}), "C")
    assert agent.wait_finished(c, trigger="poll")["status"] == "changed", agent.describe()
    assert all(app_state(h) == expected_state({"b": "3"}) for h in hosts)

    # --to a named commit on the branch (B, by its short SHA).
    named = agent.cli("rollback", DEPLOYMENT, "--to", b[:10])
    assert named.returncode == 0, named.stderr
    run = agent.wait_run("the rollback to B", lambda r: r["trigger"] == "rollback"
                         and r["revision"] == b and r["status"] == "changed")
    assert run["previous_revision"] == c
    assert all(app_state(h) == expected_state({"a": "2"}) for h in hosts)

    # Refused: a commit that is not on the branch and was never applied, and no commit at all.
    git("checkout", "--quiet", "-b", "elsewhere", a, cwd=remote.work)
    stray = remote.commit(tree(hosts, {"c": "9"}), "only on another branch")
    git("push", "--quiet", "origin", "elsewhere", cwd=remote.work)
    # Put it in the agent's clone (as a refused force-push would): known, yet not allowed.
    git("fetch", "--quiet", str(remote.bare), "elsewhere:refs/pullinfra/stray",
        cwd=agent.workdir / "state" / "source" / "repo.git")
    before = len(agent.runs())
    refused = agent.cli("rollback", DEPLOYMENT, "--to", stray)
    assert refused.returncode == 2, refused.stderr
    assert "neither on main" in refused.stderr and stray[:12] in refused.stderr
    unknown = agent.cli("rollback", DEPLOYMENT, "--to", "0123456789abcdef")
    assert unknown.returncode == 2 and "not a commit" in unknown.stderr, unknown.stderr
    status, _, body = agent.post("/api/rollback", json.dumps({"deployment": "nope"}).encode(),
                                 {"Authorization": f"Bearer {API_TOKEN}"})
    assert status == 404 and b"no deployment 'nope'" in body
    assert len(agent.runs()) == before  # refused at once: nothing was queued
    assert all(app_state(h) == expected_state({"a": "2"}) for h in hosts)
