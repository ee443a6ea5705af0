"""Plan previews (docs/previews.md): `pullinfra preview` against a bed host, and an agent
with [preview] enabled that finds pull / merge request heads in a real git remote and posts
to a fake forge on loopback (tests/acceptance_agent/previews.py). Every preview leaves the
hosts as they were: it plans, it never applies."""

from __future__ import annotations

import json
import subprocess

from tests.acceptance_agent.fleet import APP, app_state, expected_state
from tests.acceptance_agent.harness import clean_env
from tests.acceptance_agent.previews import SECRET, base_tree, head_tree
from tests.agent.gitfixtures import git
from tests.agent.process import PULLINFRA


def _pullinfra(*args: str, cwd) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PULLINFRA), *args], cwd=cwd, env=clean_env(),
                          capture_output=True, text=True, timeout=300)


def test_cli_preview_shows_changes_diffs_and_the_base_comparison_and_touches_nothing(
        remote, bed_host):
    hosts = [bed_host]
    base = remote.commit(base_tree(hosts), "base")
    applied = _pullinfra("apply", "inventory.py", "deploy.py", cwd=remote.work)
    assert applied.returncode == 0, applied.stderr
    head = remote.commit(head_tree(hosts), "a.conf v2 and an env file")
    git("checkout", "--quiet", base, cwd=remote.work)  # the work tree must not matter

    done = _pullinfra("preview", "--base", base, "--head", head, "inventory.py", "deploy.py",
                      "--json", "--detailed-exitcode", cwd=remote.work)
    assert done.returncode == 3, done.stderr  # changes pending
    result = json.loads(done.stdout)
    assert (result["base"], result["head"]) == (base, head)
    assert "deploy.py" in result["files_changed"] and "files/a.conf" in result["files_changed"]
    assert result["summary"] == {"hosts": 1, "would_change": 1, "failed": 0}
    [host] = result["hosts"]
    changes = {op["name"]: op for op in host["changes"]}
    assert set(changes) == {"put a.conf", "app env"}, changes
    assert "+version = 2" in changes["put a.conf"]["diff"]
    assert "APP_TOKEN=***" in changes["app env"]["diff"]
    [compared] = result["compared_with_base"]
    deltas = {d["name"]: d for d in compared["operations"]}
    assert set(deltas) == {"put a.conf", "app env"}, deltas
    assert deltas["put a.conf"]["base"]["status"] == "no_change"
    assert deltas["put a.conf"]["head"]["status"] == "changed"
    assert deltas["app env"]["base"] is None
    assert SECRET not in done.stdout + done.stderr

    text = _pullinfra("preview", "--base", base, "--head", head, "inventory.py", "deploy.py",
                      cwd=remote.work)
    assert text.returncode == 0, text.stderr
    assert "put a.conf: no_change at the base, changed at the head" in text.stdout
    assert "1 host would change (of 1)" in text.stdout
    assert SECRET not in text.stdout + text.stderr

    # Plan mode only: the host is as the base's apply left it.
    assert app_state(bed_host) == expected_state()
    assert bed_host.read_text(f"{APP}/app.env") is None


def test_cli_preview_refuses_bad_input_with_exit_2(remote, tmp_path):
    remote.commit({"inventory.py": "hosts = []\n", "deploy.py": "\n"}, "one")
    unknown = _pullinfra("preview", "--base", "HEAD", "--head", "nope", "inventory.py",
                         "deploy.py", cwd=remote.work)
    assert unknown.returncode == 2
    assert "'nope' is not a commit" in unknown.stderr
    nothing = _pullinfra("preview", "--base", "HEAD", "--head", "HEAD", cwd=remote.work)
    assert nothing.returncode == 2
    assert "give --config FILE, or INVENTORY" in nothing.stderr
    outside = _pullinfra("preview", "--base", "HEAD", "--head", "HEAD", "inventory.py",
                         "deploy.py", "--repo", str(tmp_path), cwd=remote.work)
    assert outside.returncode == 2
    assert "is not in a git repository" in outside.stderr
