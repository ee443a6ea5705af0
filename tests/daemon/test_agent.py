"""The agent's decisions through the real pieces, in process: a real file:// remote, the
real engine on @local in a tmp dir, the real state DB and a real HTTP report receiver."""

from __future__ import annotations

import hashlib
import hmac
import time

from agent.backoff import Backoff
from agent.daemon.deployments import Request
from tests.agent.gitfixtures import git
from tests.agent.receivers import Receiver, http
from tests.daemon.helpers import BROKEN_DEPLOY, INVENTORY, SLOW_DEPLOY, pullinfra, runs
from tests.polling import wait_for


def _ops(run) -> dict[str, str]:
    return {op["name"]: op["status"] for op in run.report["hosts"][0]["operations"]}


def test_commit_applied_once_then_only_the_change(fleet, make_agent) -> None:
    receiver = Receiver().start()
    try:
        first = fleet.push_site()
        agent = make_agent(fleet.config(notify_url=receiver.url))
        agent.poll()
        assert agent.wait_idle()
        agent.poll()  # nothing new: no second run of the same commit
        assert agent.wait_idle()
        assert (fleet.target / "a.txt").read_text() == "A1\n"
        [run] = runs(fleet.state)
        assert (run.revision, run.status, run.trigger) == (first, "changed", "poll")
        assert set(run.stages) == {"setup", "connect", "prepare", "execute", "disconnect"}

        second = fleet.push_site(b="B2\n", message="only b")
        agent.poll()
        assert agent.wait_idle()
        latest = runs(fleet.state)[-1]
        assert (latest.revision, latest.previous_revision) == (second, first)
        assert _ops(latest) == {"Create the target": "no_change", "Put a.txt": "no_change",
                                "Put b.txt": "changed"}
        assert "+B2" in latest.report["hosts"][0]["operations"][2]["diff"]
        assert agent.db.last_applied("site") == second
        body = agent.metrics.exposition().decode()
        assert f'pullinfra_applied_revision_info{{deployment="site",revision="{second}"}} 1.0' \
            in body
        assert 'pullinfra_run_total{deployment="site",result="changed",trigger="poll"} 2.0' \
            in body

        agent.outbox.deliver_due()
        got = receiver.received()
        assert [r.json()["source"]["revision"] for r in got] == [first, second]
        for r in got:
            expected = "sha256=" + hmac.new(b"s3cret", r.body, hashlib.sha256).hexdigest()
            assert r.headers["X-Pullinfra-Signature"] == expected
    finally:
        receiver.stop()


def test_failed_run_is_retried_with_backoff_not_every_poll(fleet, make_agent) -> None:
    fleet.push_site()
    broken = fleet.push({"deploys/site.py": BROKEN_DEPLOY}, "broken")
    agent = make_agent(fleet.config(),
                       retry_backoff=Backoff(base=1.5, cap=1.5, jitter=0.0))
    agent.poll()
    assert agent.wait_idle()
    [failed] = runs(fleet.state)
    assert failed.status == "failed" and failed.revision == broken
    assert "deploys/site.py:3" in failed.report["hosts"][0]["error"]
    assert not fleet.target.exists()  # no host touched

    for _ in range(5):  # polls inside the backoff: no new attempt
        agent.poll()
        assert agent.wait_idle()
    assert len(runs(fleet.state)) == 1
    time.sleep(1.6)
    agent.poll()
    assert agent.wait_idle()
    retried = runs(fleet.state)[-1]
    assert (retried.trigger, retried.status, retried.revision) == ("retry", "failed", broken)
    assert agent.db.applied_state("site").attempts == 2

    fixed = fleet.push_site(message="fixed")
    agent.poll()
    assert agent.wait_idle()
    last = runs(fleet.state)[-1]
    assert (last.revision, last.status, last.trigger) == (fixed, "changed", "poll")


def test_triggers_during_a_run_queue_exactly_one_follow_up(fleet, make_agent) -> None:
    fleet.push({"inventory.py": 'hosts = ["@local"]\n',
                "deploys/slow.py": SLOW_DEPLOY.format(sleep=1.5), "deploys/a.txt": "A\n"})
    agent = make_agent(fleet.config(deploy="deploys/slow.py"))
    agent.poll()
    wait_for(lambda: runs(fleet.state), 10, "the first run to start", interval=0.05)
    answers = [agent.submit("site", Request("manual")) for _ in range(5)]
    assert answers == ["queued"] * 5
    assert agent.wait_idle(30)
    assert [r.trigger for r in runs(fleet.state)] == ["poll", "manual"]


def test_overtaken_commits_are_recorded_as_superseded(fleet, make_agent) -> None:
    first = fleet.push_site()
    agent = make_agent(fleet.config())
    agent.poll()
    assert agent.wait_idle()
    b = fleet.push_site(a="A2\n", message="b")
    c = fleet.push_site(a="A3\n", message="c")
    agent.poll()
    assert agent.wait_idle()
    history = [(r.revision, r.status, r.superseded_by) for r in runs(fleet.state)]
    assert history == [(first, "changed", None), (b, "superseded", c), (c, "changed", None)]
    assert (fleet.target / "a.txt").read_text() == "A3\n"


def test_suspend_and_resume_persist_in_the_state_db(fleet, make_agent) -> None:
    fleet.push_site()
    config = fleet.config()
    done = pullinfra("suspend", "site", "--config", str(config))
    assert done.returncode == 0, done.stderr
    agent = make_agent(config)
    agent.poll()
    assert agent.wait_idle()
    assert runs(fleet.state) == []
    assert 'pullinfra_deployment_suspended{deployment="site"} 1.0' in \
        agent.metrics.exposition().decode()

    assert pullinfra("resume", "site", "--config", str(config)).returncode == 0
    agent.poll()
    assert agent.wait_idle()
    assert [r.status for r in runs(fleet.state)] == ["changed"]
    assert 'pullinfra_deployment_suspended{deployment="site"} 0.0' in \
        agent.metrics.exposition().decode()
    unknown = pullinfra("suspend", "nope", "--config", str(config))
    assert unknown.returncode == 2 and "no deployment 'nope'" in unknown.stderr


def test_reconcile_detects_drift_on_the_drifted_host_only(fleet, make_agent) -> None:
    fleet.push_site()
    agent = make_agent(fleet.config(reconcile="1h", reconcile_mode="detect"))
    agent.poll()
    assert agent.wait_idle()
    (fleet.target / "b.txt").write_text("tampered\n")
    agent.reconcile()
    assert agent.wait_idle()
    run = runs(fleet.state)[-1]
    assert (run.trigger, run.mode, run.status) == ("reconcile", "plan", "drift_detected")
    assert (fleet.target / "b.txt").read_text() == "tampered\n"  # detect changes nothing
    assert [h["name"] for h in run.report["hosts"]] == ["@local"]
    assert 'pullinfra_host_drift_operations{deployment="site",host="@local"} 1.0' in \
        agent.metrics.exposition().decode()


def test_force_pushed_head_is_refused_reported_once_and_not_applied(fleet, make_agent) -> None:
    fleet.push_site()
    agent = make_agent(fleet.config())
    agent.poll()
    assert agent.wait_idle()
    git("commit", "--quiet", "--amend", "-m", "rewritten history", cwd=fleet.remote.work)
    (fleet.remote.work / "deploys" / "a.txt").write_text("forced\n")
    git("commit", "--quiet", "-am", "on rewritten history", cwd=fleet.remote.work)
    fleet.remote.push(force=True)
    rewritten = fleet.remote.head()
    for _ in range(3):
        agent.poll()
        assert agent.wait_idle()
    refused = [r for r in runs(fleet.state) if r.revision == rewritten]
    assert len(refused) == 1 and refused[0].status == "failed"
    assert "force-push" in refused[0].error
    assert refused[0].report["status"] == "failed"
    assert (fleet.target / "a.txt").read_text() == "A1\n"
    assert 'pullinfra_source_fetch_total{result="rejected"} 3.0' in \
        agent.metrics.exposition().decode()


def test_repo_modules_and_config_resolve_from_the_checkout_root(fleet, make_agent) -> None:
    """Inventory and deploy in subfolders, a helper package at the repo root: pyinfra users run
    from the repo root, so the checkout root is the project root, not the inventory's folder."""
    fleet.push({
        "inventories/prod.py": INVENTORY,
        "fleetlib/__init__.py": "",
        "fleetlib/helpers.py": "from pyinfra.operations import files\n\n"
                               "def make_target(root):\n"
                               "    files.directory(name='Create the target', path=root)\n",
        "deploys/site.py": "from pyinfra import host\nfrom fleetlib.helpers import make_target\n\n"
                           "make_target(host.data.root)\n",
    }, "helpers at the root")
    agent = make_agent(fleet.config(inventory="inventories/prod.py"))
    agent.poll()
    assert agent.wait_idle()
    [run] = runs(fleet.state)
    assert run.status == "changed", run.report
    assert fleet.target.is_dir()


def test_checkouts_are_pruned_to_what_runs_and_reconcile_need(fleet, make_agent) -> None:
    agent = make_agent(fleet.config())
    revisions = []
    for n in range(5):
        revisions.append(fleet.push_site(b=f"B{n}\n", message=f"commit {n}"))
        agent.poll()
        assert agent.wait_idle()
    assert agent.db.last_applied("site") == revisions[-1]
    kept = sorted(p.name for p in agent.source.checkouts_dir.iterdir())
    assert revisions[-1] in kept  # the applied commit, which reconcile re-runs
    assert len(kept) <= agent.source.keep_checkouts + 1, kept
    assert revisions[0] not in kept


def test_healthz_answers_503_naming_the_part_that_stopped(fleet, make_agent) -> None:
    fleet.push_site()
    agent = make_agent(fleet.config())
    agent.start()
    wait_for(lambda: http("GET", f"{fleet.url}/healthz")[0] == 200, 10, "a healthy agent")
    assert agent.problems() == []
    agent.delivery.stop(grace=1)  # as if the delivery thread had died
    status, _, body = http("GET", f"{fleet.url}/healthz")
    assert status == 503
    assert b"report delivery has stopped" in body
    assert agent.problems() == ["report delivery has stopped"]
    assert agent.status_line().startswith("applied: site ")
