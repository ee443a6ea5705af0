"""The webhook readers of agent.http.webhooks, body in and event out: pure calls, no server.

The bodies under webhook_payloads/ are shaped like what GitHub, GitLab and Gitea send; the
headers below are the ones each provider sets, signed here with the test's secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.parse
from pathlib import Path

import pytest

from agent.http.webhooks import (
    PARSERS,
    BadRequest,
    Ignored,
    PushEvent,
    Unauthorized,
    gitea,
    github,
    gitlab,
)
from agent.metrics import WEBHOOK_PROVIDERS

PAYLOADS = Path(__file__).with_name("webhook_payloads")
SECRET = "It's a Secret to Everybody"
ZERO = "0" * 40
SIGNATURE_HEADERS = ("X-Hub-Signature-256", "X-Gitea-Signature", "X-Gitlab-Token")


def payload(name: str) -> bytes:
    return (PAYLOADS / f"{name}.json").read_bytes()


def headers(provider: str, body: bytes, event: str | None = None, secret: str = SECRET
            ) -> dict[str, str]:
    """The headers of one delivery, as the provider sends them."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if provider == "github":
        return {"User-Agent": "GitHub-Hookshot/5c3b5b4", "Content-Type": "application/json",
                "X-GitHub-Event": event or "push", "X-GitHub-Hook-ID": "479305829",
                "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
                "X-Hub-Signature-256": f"sha256={digest}"}
    if provider == "gitea":
        return {"User-Agent": "Go-http-client/1.1", "Content-Type": "application/json",
                "X-Gitea-Event": event or "push", "X-Gitea-Event-Type": event or "push",
                "X-Gitea-Delivery": "f6266f16-1bf3-46a5-9ea4-602e06ead473",
                "X-Gitea-Signature": digest}
    return {"User-Agent": "GitLab/17.0.1", "Content-Type": "application/json",
            "X-Gitlab-Event": event or "Push Hook", "X-Gitlab-Token": secret,
            "X-Gitlab-Instance": "https://gitlab.example.com",
            "X-Gitlab-Event-UUID": "13792a34-cac6-4fda-95a8-c58e00a3954e"}


def without_signature(h: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in h.items() if k not in SIGNATURE_HEADERS}


def test_every_metered_provider_has_a_reader() -> None:
    assert set(PARSERS) == set(WEBHOOK_PROVIDERS)
    assert (PARSERS["github"], PARSERS["gitlab"], PARSERS["gitea"]) == (github, gitlab, gitea)


def test_a_github_push() -> None:
    body = payload("github_push")
    assert github(headers("github", body), body, SECRET) == PushEvent(
        provider="github", ref="refs/heads/main",
        revision="0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", repository="acme/infra",
        delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")


def test_a_github_ping_is_ignored() -> None:
    body = payload("github_ping")
    assert github(headers("github", body, "ping"), body, SECRET) == Ignored("github", "ping")


def test_a_github_form_encoded_push() -> None:
    body = urllib.parse.urlencode({"payload": payload("github_push").decode()}).encode()
    h = headers("github", body) | {"Content-Type": "application/x-www-form-urlencoded"}
    event = github(h, body, SECRET)
    assert isinstance(event, PushEvent)
    assert (event.ref, event.revision) == ("refs/heads/main",
                                           "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c")


def test_a_json_push_labelled_as_a_form_is_read_as_json() -> None:
    body = payload("gitea_push")
    h = headers("gitea", body) | {"Content-Type": "application/x-www-form-urlencoded"}
    assert gitea(h, body, SECRET).ref == "refs/heads/main"


def test_a_github_branch_deletion_is_a_push_to_the_zero_revision() -> None:
    """Deleting a branch is still a push: the daemon fetches and finds its branch as it was."""
    body = payload("github_branch_delete")
    event = github(headers("github", body), body, SECRET)
    assert event == PushEvent("github", "refs/heads/feature/old-firewall", ZERO, "acme/infra",
                              "72d3162e-cc78-11e3-81ab-4c9367dc0958")


def test_a_gitlab_push_hook() -> None:
    body = payload("gitlab_push_hook")
    # GitLab's `repository` has no path, so the event names the repository by its URL.
    assert gitlab(headers("gitlab", body), body, SECRET) == PushEvent(
        provider="gitlab", ref="refs/heads/main",
        revision="da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        repository="https://gitlab.example.com/acme/infra.git",
        delivery="13792a34-cac6-4fda-95a8-c58e00a3954e")


def test_a_gitlab_tag_push_hook() -> None:
    body = payload("gitlab_tag_push_hook")
    event = gitlab(headers("gitlab", body, "Tag Push Hook"), body, SECRET)
    assert isinstance(event, PushEvent)
    assert (event.provider, event.ref, event.revision) == (
        "gitlab", "refs/tags/v1.4.0", "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7")


def test_a_gitlab_push_without_after_falls_back_to_checkout_sha() -> None:
    data = json.loads(payload("gitlab_push_hook"))
    del data["after"]
    data["checkout_sha"] = "1" * 40
    body = json.dumps(data).encode()
    assert gitlab(headers("gitlab", body), body, SECRET).revision == "1" * 40


def test_a_gitea_push() -> None:
    body = payload("gitea_push")
    assert gitea(headers("gitea", body), body, SECRET) == PushEvent(
        provider="gitea", ref="refs/heads/main",
        revision="e3b2a1f0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4", repository="acme/infra",
        delivery="f6266f16-1bf3-46a5-9ea4-602e06ead473")


def test_header_names_are_matched_in_any_case() -> None:
    body = payload("github_push")
    lowered = {k.lower(): v for k, v in headers("github", body).items()}
    assert github(lowered, body, SECRET).delivery == "72d3162e-cc78-11e3-81ab-4c9367dc0958"


@pytest.mark.parametrize("provider, name", [("github", "github_push"),
                                            ("gitlab", "gitlab_push_hook"),
                                            ("gitea", "gitea_push")])
def test_a_bad_signature_is_unauthorized(provider: str, name: str) -> None:
    body = payload(name)
    with pytest.raises(Unauthorized, match=f"invalid {provider} webhook"):
        PARSERS[provider](headers(provider, body, secret="not-the-secret"), body, SECRET)


@pytest.mark.parametrize("provider, name", [("github", "github_push"),
                                            ("gitlab", "gitlab_push_hook"),
                                            ("gitea", "gitea_push")])
def test_a_missing_signature_is_unauthorized(provider: str, name: str) -> None:
    body = payload(name)
    with pytest.raises(Unauthorized, match=f"missing or invalid {provider}"):
        PARSERS[provider](without_signature(headers(provider, body)), body, SECRET)


def test_a_wrong_gitlab_token_is_unauthorized_and_says_token() -> None:
    body = payload("gitlab_push_hook")
    h = headers("gitlab", body) | {"X-Gitlab-Token": SECRET + "x"}
    with pytest.raises(Unauthorized) as caught:
        gitlab(h, body, SECRET)
    assert caught.value.message == "missing or invalid gitlab webhook token"


@pytest.mark.parametrize("provider", ["github", "gitea"])
def test_a_body_changed_after_signing_is_unauthorized(provider: str) -> None:
    body = payload(f"{provider}_push")
    with pytest.raises(Unauthorized, match="signature"):
        PARSERS[provider](headers(provider, body), body + b"\n", SECRET)


@pytest.mark.parametrize("provider", ["github", "gitlab", "gitea"])
@pytest.mark.parametrize("secret", [None, ""])
def test_without_a_configured_secret_nothing_verifies(provider: str, secret: str | None
                                                      ) -> None:
    body = b'{"ref": "refs/heads/main"}'
    with pytest.raises(Unauthorized):
        PARSERS[provider](headers(provider, body, secret=""), body, secret)


@pytest.mark.parametrize("provider", ["github", "gitlab", "gitea"])
@pytest.mark.parametrize("body", [b'{"ref": "refs/heads/main",', b'["a", "list"]',
                                  b"\xff\xfe not text"])
def test_a_signed_body_that_is_no_json_object_is_a_bad_request(provider: str, body: bytes
                                                                ) -> None:
    with pytest.raises(BadRequest, match="not a JSON object"):
        PARSERS[provider](headers(provider, body), body, SECRET)


@pytest.mark.parametrize("provider, event", [("github", "issues"), ("gitea", "create"),
                                             ("gitlab", "Merge Request Hook")])
def test_a_signed_event_that_is_no_push_is_ignored(provider: str, event: str) -> None:
    body = b'{"action": "opened"}'
    assert PARSERS[provider](headers(provider, body, event), body, SECRET) == Ignored(
        provider, event)


def test_a_delivery_without_an_event_name_is_ignored() -> None:
    body = payload("gitea_push")
    h = {k: v for k, v in headers("gitea", body).items() if k != "X-Gitea-Event"}
    assert gitea(h, body, SECRET) == Ignored("gitea", None)


def test_the_signature_is_checked_before_the_event_is_believed() -> None:
    body = payload("github_ping")
    with pytest.raises(Unauthorized):
        github(headers("github", body, "ping", secret="guess"), body, SECRET)
