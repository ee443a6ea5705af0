"""Acceptance 6: SIGTERM during a run exits 0 and records the run as interrupted; a run cut
short by SIGKILL is found at the next start and re-run to completion."""

from __future__ import annotations

from tests.acceptance_agent.fleet import APP, app_state, expected_state, files_deploy, tree
from tests.acceptance_agent.harness import FINISHED, wait_for

SLOW_SECONDS = 4
SLOW_DEPLOY = files_deploy(extra=(
    f'server.shell(name="slow step", commands=["sleep {SLOW_SECONDS}", '
    f'"touch {APP}/slow.done"])\n'
    f'files.line(name="after the slow step", path="{APP}/after", line="done")\n'))


def _start_slow_run(remote, hosts, make_agent, **options):
    """An agent in the middle of the slow step of its first run: (agent, commit, run)."""
    commit = remote.commit_and_push(tree(hosts, deploy=SLOW_DEPLOY), "slow deploy")
    agent = make_agent(url=remote.url, shutdown_grace="30s", **options)
    agent.start()
    run = agent.wait_run("the run of the slow deploy in progress",
                         lambda r: r["revision"] == commit and r["status"] == "running",
                         interval=0.1)
    # The uploads before the slow step are done: the slow step is what is running now.
    host = hosts[0]
    wait_for(lambda: host.exists(f"{APP}/c.conf"), 30, "the uploads before the slow step",
             interval=0.05, describe=agent.describe)
    assert next(r for r in agent.runs() if r["id"] == run["id"])["status"] == "running"
    assert not host.exists(f"{APP}/slow.done")
    return agent, commit, run


def test_sigterm_during_run_exits_0_and_records_run_interrupted(
        remote, bed_hosts, make_agent):
    hosts = bed_hosts(1)
    agent, commit, run = _start_slow_run(remote, hosts, make_agent)

    assert agent.terminate(timeout=60) == 0, agent.log_tail()

    history = agent.history()
    recorded = next(r for r in history if r["id"] == run["id"])
    assert recorded["status"] == "interrupted", history
    assert recorded["revision"] == commit
    assert agent.show(run["id"])["status"] == "interrupted"
    # Scheduling stopped: the operation after the slow one never started.
    assert not hosts[0].exists(f"{APP}/after")


def test_sigkill_during_run_then_restart_reruns_the_interrupted_run(
        remote, bed_hosts, make_agent):
    hosts = bed_hosts(1)
    agent, commit, run = _start_slow_run(remote, hosts, make_agent)

    agent.kill()
    agent.start()
    rerun = agent.wait_run(
        "a completed re-run of the interrupted commit",
        lambda r: r["revision"] == commit and r["id"] > run["id"] and r["status"] in FINISHED
        and r["status"] not in ("interrupted", "superseded"), timeout=90)
    assert rerun["status"] == "changed", agent.describe()

    history = agent.history()
    statuses = {r["id"]: r["status"] for r in history if r["revision"] == commit}
    assert statuses[run["id"]] == "interrupted", history
    assert statuses[rerun["id"]] == "changed", history
    host = hosts[0]
    assert app_state(host) == expected_state()
    assert host.exists(f"{APP}/slow.done")
    assert "done" in (host.read_text(f"{APP}/after") or "").splitlines()
