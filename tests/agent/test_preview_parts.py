"""The parts of a preview that need no host: request webhooks read into PreviewEvents, the
forge clients against a fake forge on loopback (GitHub, GitLab, Gitea paths, methods and
token headers), and the comparison of a head's plan with its base's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from agent.engine.result import HostResult, OpHostResult, RunResult
from agent.http import AgentHTTPServer
from agent.http.webhooks import BadRequest, Ignored, PreviewEvent, Unauthorized, gitea, github
from agent.http.webhooks import gitlab as gitlab_hook
from agent.metrics import Metrics
from agent.preview import render
from agent.preview.compare import preview
from agent.preview.forges import FORGES
from agent.preview.plan import RevisionPlan
from agent.report.build import Provenance, from_result
from agent.vocab import HostStatus, Mode, OpStatus
from tests.acceptance_agent.previews import Forge, github_pull, gitlab_mr
from tests.agent.receivers import http
from tests.agent.test_webhooks import SECRET, headers

HEAD, BASE = "a" * 40, "b" * 40


def _pull_body(action: str, head_repo: str = "acme/infra") -> bytes:
    return json.dumps({"action": action, "number": 7, "pull_request": {
        "number": 7, "head": {"sha": HEAD, "repo": {"full_name": head_repo}},
        "base": {"sha": BASE, "repo": {"full_name": "acme/infra"}}},
        "repository": {"full_name": "acme/infra"}}).encode()


def _mr_body(action: str, source: int = 42) -> bytes:
    return json.dumps({"object_kind": "merge_request", "project": {
        "path_with_namespace": "acme/infra"}, "object_attributes": {
        "iid": 7, "action": action, "last_commit": {"id": HEAD},
        "source_project_id": source, "target_project_id": 42}}).encode()


@pytest.mark.parametrize("reader, provider, action", [
    (github, "github", "synchronize"), (github, "github", "opened"),
    (gitea, "gitea", "synchronized")])
def test_a_pull_request_with_a_new_head_is_a_preview_event(reader, provider, action) -> None:
    body = _pull_body(action)
    event = reader(headers(provider, body, "pull_request"), body, SECRET)
    assert event == PreviewEvent(provider, 7, HEAD, BASE, False, "acme/infra",
                                 event.delivery)


def test_a_pull_request_from_another_repository_is_a_fork() -> None:
    body = _pull_body("synchronize", head_repo="mallory/infra")
    assert github(headers("github", body, "pull_request"), body, SECRET).fork is True
    gone = json.loads(_pull_body("synchronize"))
    gone["pull_request"]["head"]["repo"] = None  # a deleted fork: unknown counts as a fork
    raw = json.dumps(gone).encode()
    assert github(headers("github", raw, "pull_request"), raw, SECRET).fork is True


def test_a_merge_request_hook_reads_iid_head_and_fork_from_project_ids() -> None:
    body = _mr_body("update")
    event = gitlab_hook(headers("gitlab", body, "Merge Request Hook"), body, SECRET)
    assert (event.number, event.head, event.base, event.fork) == (7, HEAD, None, False)
    forked = _mr_body("open", source=7)
    assert gitlab_hook(headers("gitlab", forked, "Merge Request Hook"), forked,
                       SECRET).fork is True


def test_closing_or_merging_a_request_is_ignored() -> None:
    body = _pull_body("closed")
    assert github(headers("github", body, "pull_request"), body, SECRET) == Ignored(
        "github", "pull_request closed")
    merged = _mr_body("merge")
    assert gitlab_hook(headers("gitlab", merged, "Merge Request Hook"), merged,
                       SECRET) == Ignored("gitlab", "Merge Request Hook merge")


def test_a_request_event_must_be_signed_and_name_its_head() -> None:
    body = _pull_body("synchronize")
    with pytest.raises(Unauthorized):
        github(headers("github", body, "pull_request", secret="guess"), body, SECRET)
    headless = json.dumps({"action": "opened", "number": 7, "pull_request": {}}).encode()
    with pytest.raises(BadRequest, match="no request number or head commit"):
        github(headers("github", headless, "pull_request"), headless, SECRET)


# ---- forge clients ----

@pytest.fixture
def fake() -> Iterator[dict[str, Forge]]:
    started = {kind: Forge(kind).start() for kind in ("github", "gitlab", "gitea")}
    yield started
    for forge in started.values():
        forge.stop()


@pytest.mark.parametrize("kind, status_path, comments_path, edit, auth", [
    ("github", "/repos/acme/infra/statuses/", "/repos/acme/infra/issues/7/comments", "PATCH",
     ("Authorization", "Bearer tok")),
    ("gitea", "/api/v1/repos/acme/infra/statuses/", "/api/v1/repos/acme/infra/issues/7/comments",
     "PATCH", ("Authorization", "token tok")),
    ("gitlab", "/api/v4/projects/acme%2Finfra/statuses/",
     "/api/v4/projects/acme%2Finfra/merge_requests/7/notes", "PUT", ("Private-Token", "tok")),
])
def test_forge_status_and_one_comment_created_then_edited(fake, kind, status_path,
                                                          comments_path, edit, auth) -> None:
    server = fake[kind]
    client = FORGES[kind]("acme/infra", "tok", server.api, timeout=5)
    client.set_status(HEAD, False, "pullinfra/preview/app", "refused")
    first = client.upsert_comment(7, "one", None)
    assert client.upsert_comment(7, "two", first) == first
    calls = server.calls
    assert [(c.method, c.path) for c in calls] == [
        ("POST", status_path + HEAD), ("POST", comments_path),
        (edit, (comments_path.replace("issues/7/", "issues/") if kind != "gitlab"
                else comments_path) + f"/{first}")]
    failure = "failed" if kind == "gitlab" else "failure"
    assert calls[0].body["state"] == failure and calls[0].body["description"] == "refused"
    assert {k.lower(): v for k, v in calls[0].headers.items()}[auth[0].lower()] == auth[1]
    [comment] = server.all_comments()
    assert comment["body"] == "two" and comment["edits"] == 1


@pytest.mark.parametrize("kind", ["github", "gitlab", "gitea"])
def test_the_comment_is_found_again_by_its_marker(fake, kind) -> None:
    server = fake[kind]
    client = FORGES[kind]("acme/infra", "tok", server.api, timeout=5)
    assert client.find_comment(7, render.marker("app")) is None
    client.upsert_comment(7, "someone else's", None)
    ours = client.upsert_comment(7, render.marker("app") + "\nplan", None)
    client.upsert_comment(8, render.marker("app") + "\nanother request", None)
    assert client.find_comment(7, render.marker("app")) == ours
    assert client.find_comment(7, render.marker("db")) is None


def test_a_deleted_comment_is_created_again(fake) -> None:
    server = fake["github"]
    client = FORGES["github"]("acme/infra", "tok", server.api, timeout=5)
    first = client.upsert_comment(7, "one", None)
    server.comments.clear()  # someone deleted it on the forge
    second = client.upsert_comment(7, "two", first)
    assert second != first
    assert [c["body"] for c in server.all_comments()] == ["two"]


def test_pull_request_lookups_tell_forks(fake) -> None:
    hub, lab = fake["github"], fake["gitlab"]
    hub.pulls |= {1: github_pull(1, HEAD), 2: github_pull(2, HEAD, fork=True)}
    lab.pulls |= {1: gitlab_mr(1, HEAD), 2: gitlab_mr(2, HEAD, fork=True)}
    for server in (hub, lab):
        client = FORGES[server.kind]("acme/infra", "tok", server.api, timeout=5)
        own, fork = client.pull_request(1), client.pull_request(2)
        assert (own.fork, own.open, own.head) == (False, True, HEAD)
        assert fork.fork is True


# ---- comparing plans ----

def _plan(revision: str, ops: list[tuple[str, OpStatus, str | None]],
          host: str = "web1") -> RevisionPlan:
    changed = any(status == OpStatus.CHANGED for _, status, _ in ops)
    result = RunResult("r", Mode.PLAN, datetime.now(UTC), datetime.now(UTC), hosts=[
        HostResult(host, HostStatus.CHANGED if changed else HostStatus.UNCHANGED,
                   operations=[OpHostResult(n, s, diff=d) for n, s, d in ops])])
    return RevisionPlan(revision, from_result(result, Provenance(run_id="r")))


def test_compare_lists_only_operations_whose_plan_the_head_changes() -> None:
    base = _plan(BASE, [("pkg", OpStatus.NO_CHANGE, None), ("conf", OpStatus.CHANGED, "-a\n+b"),
                        ("old", OpStatus.NO_CHANGE, None)])
    head = _plan(HEAD, [("pkg", OpStatus.NO_CHANGE, None), ("conf", OpStatus.CHANGED, "-a\n+c"),
                        ("new", OpStatus.CHANGED, "+x")])
    result = preview("app", base, head, " conf | 2 +-")
    deltas = {d.name: d for d in result.compared["web1"]}
    assert set(deltas) == {"conf", "new", "old"}  # pkg plans the same in both
    assert deltas["new"].base is None and deltas["old"].head is None
    assert (result.changing, result.has_changes, result.has_failures) == (["web1"], True, False)
    text = render.comment(result)
    assert "`conf`: changed in both, with another diff" in text
    assert "`old`: no_change at the base, not planned at the head" in text
    assert render.status_line(result) == "1 host would change (of 1)"


def test_a_head_that_does_not_load_is_a_failure_with_its_error() -> None:
    head = RevisionPlan(HEAD, None, "deploy.py:3: NameError: name 'fles' is not defined")
    result = preview("app", _plan(BASE, []), head, "")
    assert result.has_failures and result.compared == {}
    assert "NameError" in render.comment(result)
    assert render.status_line(result).startswith("preview failed")


# ---- /hooks/PROVIDER with a request event ----

@pytest.mark.parametrize("previews_on", [True, False])
def test_a_request_webhook_reaches_the_agent_or_is_ignored_when_previews_are_off(
        previews_on: bool) -> None:
    received: list[object] = []

    def on_push(event: object) -> bool:
        received.append(event)
        return previews_on

    metrics = Metrics(version="test")
    body = _pull_body("synchronize")
    with AgentHTTPServer("127.0.0.1:0", metrics, webhook_secrets={"github": SECRET},
                         on_push=on_push) as server:
        status, _, raw = http("POST", f"{server.url}/hooks/github", body=body,
                              headers=headers("github", body, "pull_request"))
    [event] = received
    assert isinstance(event, PreviewEvent) and event.number == 7
    if previews_on:
        assert status == 202
        assert json.loads(raw) == {"status": "accepted", "request": 7, "revision": HEAD}
    else:
        assert status == 200
        assert json.loads(raw) == {"status": "ignored",
                                    "reason": "previews of github requests are off"}
    result = "accepted" if previews_on else "ignored"
    assert metrics.webhook_requests.labels(provider="github", result=result)._value.get() == 1
