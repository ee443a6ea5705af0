"""A pushed commit whose files.put source is a symlink to a file of the agent's machine fails
its run at prepare, with file:line, before any host is touched (agent/engine/local_paths.py)."""

from __future__ import annotations

import json

from tests.acceptance_agent.fleet import APP, files_deploy, tree
from tests.acceptance_agent.harness import report_of
from tests.agent.gitfixtures import git

SECRET = "token-on-the-agent-only\n"


def test_a_commit_with_an_escaping_symlink_fails_before_any_host_is_touched(
        remote, bed_hosts, make_agent, tmp_path):
    [host] = bed_hosts(1)
    secret = tmp_path / "agent-secret.txt"
    secret.write_text(SECRET)
    (remote.work / "files").mkdir(parents=True)
    (remote.work / "files" / "evil.conf").symlink_to(secret)
    git("add", "files/evil.conf", cwd=remote.work)
    deploy = files_deploy(extra=f'files.put(name="evil", src="files/evil.conf",'
                                f' dest="{APP}/evil.conf")\n')
    line = deploy.count("\n")
    revision = remote.commit_and_push(tree([host], deploy=deploy), "a one-line symlink")

    agent = make_agent(url=remote.url)
    agent.start()
    agent.wait_ready()
    run = agent.wait_finished(revision)

    assert run["status"] == "failed", agent.describe()
    report = json.dumps(report_of(run))
    assert f"deploy.py:{line}" in report and "files/evil.conf" in report, report
    assert SECRET.strip() not in report
    assert host.stat(APP) is None  # not even the first operation (the directory) ran
