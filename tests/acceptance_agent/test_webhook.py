"""Acceptance 7: a signed GitHub push webhook triggers a run within 2 s; a badly signed one is
refused with 401, counted, and triggers nothing."""

from __future__ import annotations

import json
import time

from tests.acceptance_agent.fleet import app_state, expected_state, tree
from tests.acceptance_agent.harness import github_push_headers, wait_for

TRIGGER_DEADLINE = 2.0  # a signed push starts a run within 2 s (README, webhooks)


def _webhooks(agent, result: str) -> float:
    return agent.scrape().sum("pullinfra_webhook_requests_total", provider="github",
                              result=result)


def test_signed_push_webhook_triggers_run_within_2s_and_bad_signature_is_refused(
        remote, bed_hosts, make_agent):
    hosts = bed_hosts(1)
    base = remote.commit_and_push(tree(hosts), "base")
    # An hour between polls: only the webhook can explain a run of the next commit.
    agent = make_agent(url=remote.url, poll_interval="3600s")
    agent.start()
    agent.wait_ready()
    agent.wait_finished(base)
    pushed = remote.commit_and_push(tree(hosts, {"a": "2"}), "A: pushed, then announced")
    body = json.dumps({
        "ref": "refs/heads/main", "before": base, "after": pushed,
        "repository": {"full_name": "acme/fleet", "clone_url": remote.url},
        "head_commit": {"id": pushed, "message": "A: pushed, then announced"},
    }).encode()
    assert _webhooks(agent, "unauthorized") == 0

    # A bad signature: 401, counted, and no run within the time a good one gets.
    status, _, _ = agent.post("/hooks/github", body,
                              github_push_headers(body, "delivery-bad", "not-the-secret"))
    assert status == 401
    assert _webhooks(agent, "unauthorized") == 1
    assert _webhooks(agent, "accepted") == 0
    observe_until = time.monotonic() + TRIGGER_DEADLINE + 1.0
    while time.monotonic() < observe_until:
        assert not [r for r in agent.runs() if r["revision"] == pushed], agent.describe()
        time.sleep(0.1)

    # A good signature: a run of the pushed commit starts within 2 s of the POST.
    posted_at = time.time()
    status, _, _ = agent.post("/hooks/github", body,
                              github_push_headers(body, "delivery-good"))
    assert 200 <= status < 300, status
    run = agent.wait_run("a run of the pushed commit", lambda r: r["revision"] == pushed,
                         timeout=10, interval=0.05)
    seen_after = time.time() - posted_at
    started_after = run["started_at"] - posted_at
    print(f"webhook: run started {started_after:.3f}s, seen in /api/runs {seen_after:.3f}s "
          "after the POST")
    assert seen_after < TRIGGER_DEADLINE, (
        f"run appeared {seen_after:.2f}s after the webhook (started_at +{started_after:.2f}s)")
    assert run["trigger"] == "webhook"

    done = agent.wait_finished(pushed)
    assert done["status"] == "changed"
    assert app_state(hosts[0]) == expected_state({"a": "2"})
    wait_for(lambda: _webhooks(agent, "accepted") == 1, 10, "accepted webhook counted")
    assert _webhooks(agent, "unauthorized") == 1
    assert len([r for r in agent.runs() if r["revision"] == pushed]) == 1
