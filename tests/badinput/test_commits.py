"""Bad inventories, deploy code and repository contents, pushed as commits to a real remote
that one long-lived agent watches, with two bed hosts: each bad commit's run is recorded
failed with a clear error (its report in /api/runs), nothing is applied on the hosts, and the
agent stays healthy. Odd but valid contents (50 MB, thousands of files, binary data) apply.
The same inventory and deploy cases go through `pullinfra apply` too (exit 2, clear stderr).

Cases: cases/{inventory,deploy,repository}/<name>/ (tests/badinput/corpus.py).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance_agent.harness import DEPLOYMENT, clean_env, report_of
from tests.agent.process import PULLINFRA
from tests.badinput.agents import Watched
from tests.badinput.corpus import GOOD_FILE, Case, assert_clear, params
from tests.badinput.repository import BLOB, binary_blob, case_tree, push_tree, write_tree

pytestmark = pytest.mark.xdist_group("badinput")

APPLIED = frozenset({"changed", "unchanged"})


def _errors(report: dict[str, Any]) -> list[str]:
    return [host["error"] for host in report["hosts"] if host.get("error")]


@pytest.mark.parametrize("case", params("inventory", "deploy", "repository"))
def test_bad_commit_fails_clearly_applies_nothing_agent_stays_healthy(
        case: Case, watched: Watched) -> None:
    agent, hosts = watched.agent, watched.hosts
    before = watched.good_mtimes()
    sha = push_tree(watched.remote, case_tree(case, hosts, watched.outside),
                    f"{case.kind}: {case.name}")
    run = agent.wait_finished(sha, timeout=180)
    report = report_of(run)
    if case.refused:
        assert run["status"] == "failed", agent.describe()
        errors = _errors(report)
        assert errors, report
        for error in errors:
            assert_clear(error, case.expected)
        assert watched.markers() == [], "something was applied"
        assert watched.good_mtimes() == before
        scrape = agent.scrape()
        assert scrape.value("pullinfra_applied_revision_info", deployment=DEPLOYMENT,
                            revision=sha) in (None, 0)
    else:
        assert run["status"] in APPLIED, (report, agent.describe())
        assert sorted(h["name"] for h in report["hosts"]) == sorted(h.name for h in hosts)
        for host in hosts:
            assert host.exists(GOOD_FILE), host.name
        if case.expected.get("generate") == "binary_file_uploaded":
            assert all(host.read_file(BLOB) == binary_blob() for host in hosts)
    assert agent.running()
    assert agent.healthz() == 200, agent.describe()


def _cli_params() -> list[Any]:
    """The refused cases; those that apply cost a run on the hosts and are left out."""
    return [p for p in params("inventory", "deploy", "repository") if p.values[0].refused]


@pytest.mark.parametrize("case", _cli_params())
def test_apply_refuses_bad_input_with_a_clear_message(
        case: Case, watched: Watched, tmp_path: Path) -> None:
    write_tree(tmp_path, case_tree(case, watched.hosts, watched.outside))
    done = subprocess.run([str(PULLINFRA), "apply", "inventory.py", "deploy.py"],
                          cwd=tmp_path, env=clean_env(), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert_clear(done.stderr, case.expected)
    assert watched.markers() == [], "something was applied"
