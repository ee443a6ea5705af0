"""Plan previews (docs/previews.md): `pullinfra preview` against a bed host, and an agent
with [preview] enabled that finds pull / merge request heads in a real git remote and posts
to a fake forge on loopback (tests/acceptance_agent/previews.py). Every preview leaves the
hosts as they were: it plans, it never applies."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance_agent.fleet import APP, app_state, expected_state
from tests.acceptance_agent.harness import (
    WEBHOOK_SECRET,
    Agent,
    agent_config,
    clean_env,
    to_toml,
)
from tests.acceptance_agent.previews import (
    SECRET,
    Forge,
    base_tree,
    github_pull,
    gitlab_mr,
    head_tree,
)
from tests.agent.gitfixtures import git
from tests.agent.process import PULLINFRA
from tests.agent.receivers import free_port
from tests.polling import wait_for

TOKEN = "forge-api-token-for-previews"
REFUSED = ("preview refused: head is from a fork; set [preview] allow_forks = true "
           "to allow")
PREVIEW_TIMEOUT = 180  # two plans (head and base) against a bed host on a busy machine


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

    # The same through an agent config's deployment ("app": inventory.py + deploy.py).
    config = remote.work.parent / "agent.toml"
    config.write_text(to_toml(agent_config(url=remote.url, port=free_port(),
                                           state_dir=remote.work.parent / "state")))
    configured = _pullinfra("preview", "--base", base, "--head", head, "--config", str(config),
                            "--deployment", "app", "--json", cwd=remote.work)
    assert configured.returncode == 0, configured.stderr
    assert json.loads(configured.stdout)["deployment"] == "app"
    assert json.loads(configured.stdout)["compared_with_base"] == result["compared_with_base"]

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


# ---- the agent ----

@pytest.fixture
def forges() -> Iterator[Callable[[str], Forge]]:
    started: list[Forge] = []

    def start(kind: str) -> Forge:
        forge = Forge(kind).start()
        started.append(forge)
        return forge

    yield start
    for forge in started:
        forge.stop()


@pytest.fixture
def preview_agent(tmp_path: Path) -> Iterator[Callable[..., Agent]]:
    """preview_agent(url, forge, name=..., **[preview] keys) -> a started, ready agent."""
    made: list[Agent] = []

    def make(url: str, forge: Forge, name: str = "agent", **preview: Any) -> Agent:
        workdir = tmp_path / name
        workdir.mkdir()
        config = agent_config(url=url, port=free_port(), state_dir=workdir / "state",
                              instance=name)
        config["preview"] = {"enabled": True, "provider": forge.kind, "api_url": forge.api,
                             "token": TOKEN,
                             "repository": "42" if forge.kind == "gitlab" else "acme/infra",
                             **preview}
        agent = Agent(workdir, config, name=name)
        made.append(agent)
        agent.start()
        agent.wait_ready()
        return agent

    yield make
    for agent in made:
        agent.cleanup()


def _push_request(remote, ref: str, files: dict[str, str], message: str) -> str:
    """A commit on the work clone pushed only to a request ref (never to the branch)."""
    sha = remote.commit(files, message)
    git("push", "--quiet", "--force", "origin", f"HEAD:{ref}", cwd=remote.work)
    return sha


def _comments_with(forge: Forge, text: str) -> list[dict[str, Any]]:
    return [c for c in forge.all_comments() if text in c["body"]]


def _no_secret_anywhere(forge: Forge, agent: Agent) -> None:
    bodies = json.dumps([c.body for c in forge.calls])
    assert SECRET not in bodies
    assert SECRET not in agent.log()


@pytest.mark.parametrize("kind", ["github", "gitlab", "gitea"])
def test_agent_posts_a_preview_and_edits_the_same_comment_on_a_second_push(
        kind, remote, bed_host, forges, preview_agent):
    forge = forges(kind)
    hosts = [bed_host]
    base = remote.commit_and_push(base_tree(hosts), "base")
    agent = preview_agent(remote.url, forge)
    agent.wait_finished(base)  # the branch is applied as always
    ref = "refs/merge-requests/1/head" if kind == "gitlab" else "refs/pull/1/head"
    lookup = gitlab_mr if kind == "gitlab" else github_pull

    head = _push_request(remote, ref, head_tree(hosts), "a.conf v2 and an env file")
    forge.pulls[1] = lookup(1, head)
    [first] = wait_for(lambda: _comments_with(forge, head[:12]), PREVIEW_TIMEOUT,
                       "the preview comment", describe=agent.log_tail)
    assert first["number"] == 1 and first["edits"] == 0
    body = first["body"]
    assert "<!-- pullinfra-preview:app -->" in body
    assert "1 host would change (of 1)" in body
    assert "+version = 2" in body and "APP_TOKEN=***" in body
    assert "`put a.conf`: no_change at the base, changed at the head" in body
    [status] = wait_for(lambda: forge.statuses(head), 30, "the head's status")
    context = "name" if kind == "gitlab" else "context"
    assert status == {"state": "success", context: "pullinfra/preview/app",
                      "description": "1 host would change (of 1)"}

    assert agent.terminate() == 0  # the comment is found again from the state DB
    agent.start()
    agent.wait_ready()
    second = _push_request(remote, ref, head_tree(hosts, version="3"), "a.conf v3")
    forge.pulls[1] = lookup(1, second)
    wait_for(lambda: _comments_with(forge, second[:12]), PREVIEW_TIMEOUT,
             "the comment edited for the second push", describe=agent.log_tail)
    [edited] = forge.all_comments()  # still one comment: edited in place
    assert edited["id"] == first["id"] and edited["edits"] == 1
    assert "+version = 3" in edited["body"] and "+version = 2" not in edited["body"]
    assert wait_for(lambda: forge.statuses(second), 30, "the second head's status")
    edit = "PUT" if kind == "gitlab" else "PATCH"
    assert [c.method for c in forge.calls if c.body and "body" in c.body] == ["POST", edit]
    assert len(forge.statuses(head)) == 1  # the restart did not preview the first head again

    _no_secret_anywhere(forge, agent)
    assert app_state(bed_host) == expected_state()  # the base's apply, nothing more
    assert bed_host.read_text(f"{APP}/app.env") is None
    assert [r["revision"] for r in agent.runs()] == [base]  # a preview is no run


def _github_hook(agent: Agent, number: int, head: str, fork: bool) -> int:
    payload = {"action": "synchronize", "number": number, "pull_request": {
        "number": number,
        "head": {"sha": head, "repo": {"full_name": "mallory/infra" if fork else "acme/infra"}},
        "base": {"sha": "0" * 40, "repo": {"full_name": "acme/infra"}}}}
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    status, _, _ = agent.post("/hooks/github", body, {
        "X-GitHub-Event": "pull_request", "X-Hub-Signature-256": signature,
        "X-GitHub-Delivery": f"delivery-{number}-{head[:8]}",
        "Content-Type": "application/json"})
    return status


def test_a_fork_is_refused_by_default_and_none_of_its_code_runs(
        remote, bed_host, forges, preview_agent, tmp_path):
    forge = forges("github")
    hosts = [bed_host]
    marker = tmp_path / "fork-code-ran"
    base = remote.commit_and_push(base_tree(hosts), "base")
    agent = preview_agent(remote.url, forge)
    agent.wait_finished(base)

    # A closed request's ref stays in the remote: the forge is asked about its head once.
    closed = _push_request(remote, "refs/pull/4/head", head_tree(hosts, "9", marker),
                           "closed long ago")
    forge.pulls[4] = {**github_pull(4, closed), "state": "closed"}

    # Found by fetching: the forge says the head is in a fork.
    fetched = _push_request(remote, "refs/pull/2/head", head_tree(hosts, marker=marker),
                            "from a fork")
    forge.pulls[2] = github_pull(2, fetched, fork=True)
    [status] = wait_for(lambda: forge.statuses(fetched), PREVIEW_TIMEOUT,
                        "the refusal status", describe=agent.log_tail)
    assert status == {"state": "failure", "context": "pullinfra/preview/app",
                      "description": REFUSED}

    # Told by a webhook (the forge's API knows nothing of request 3): refused just the same.
    hooked = _push_request(remote, "refs/pull/3/head",
                           head_tree(hosts, version="4", marker=marker), "fork, by webhook")
    assert _github_hook(agent, 3, hooked, fork=True) == 202
    [status] = wait_for(lambda: forge.statuses(hooked), PREVIEW_TIMEOUT,
                        "the webhook's refusal status", describe=agent.log_tail)
    assert status["state"] == "failure" and status["description"] == REFUSED

    # A webhook that calls the fork's commit request 5, and no fork, is not believed: no ref
    # of the forge's says that commit is request 5.
    assert _github_hook(agent, 5, fetched, fork=False) == 202
    wait_for(lambda: "the webhook's head is not the request's ref" in agent.log(),
             PREVIEW_TIMEOUT, "the webhook set aside", describe=agent.log_tail)

    assert not marker.exists()  # neither inventory nor deploy of a fork was loaded
    asked = [c for c in forge.calls if c.method == "GET" and c.path.endswith("/pulls/4")]
    assert len(asked) == 1 and forge.statuses(closed) == []
    assert forge.all_comments() == []
    assert app_state(bed_host) == expected_state()


def test_a_fork_is_previewed_when_allow_forks_is_set(
        remote, bed_host, forges, preview_agent, tmp_path):
    forge = forges("github")
    hosts = [bed_host]
    marker = tmp_path / "fork-code-ran"
    base = remote.commit_and_push(base_tree(hosts), "base")
    agent = preview_agent(remote.url, forge, allow_forks=True)
    agent.wait_finished(base)
    head = _push_request(remote, "refs/pull/2/head", head_tree(hosts, marker=marker),
                         "from a trusted fork")
    forge.pulls[2] = github_pull(2, head, fork=True)
    [comment] = wait_for(lambda: _comments_with(forge, head[:12]), PREVIEW_TIMEOUT,
                         "the fork's preview comment", describe=agent.log_tail)
    assert "1 host would change (of 1)" in comment["body"]
    assert marker.exists()  # its deploy code ran, on the agent's machine: as configured

    # The state DB lost: the head is previewed again and the comment found by its marker.
    assert agent.terminate() == 0
    for db in (agent.workdir / "state").glob("state.db*"):
        db.unlink()
    agent.start()
    wait_for(lambda: len(forge.statuses(head)) == 2, PREVIEW_TIMEOUT, "a second preview",
             describe=agent.log_tail)
    wait_for(lambda: forge.all_comments()[0]["edits"] == 1, 30, "the comment edited")
    assert len(forge.all_comments()) == 1
    assert forge.statuses(head)[0]["state"] == "success"
    _no_secret_anywhere(forge, agent)
    assert bed_host.read_text(f"{APP}/app.env") is None
