"""Push and pull-request webhooks from GitHub, GitLab and Gitea as pure functions: the
request's headers, its raw body and the configured secret in; a `PushEvent`, a
`PreviewEvent` (a pull / merge request opened or pushed to), an `Ignored`, or a
`WebhookRejected` out.

Nothing here touches a socket, a metric or a log, so each provider's quirks are pinned by
tests that feed the exact bytes it sends, and the HTTP side only counts and answers. The
signature is checked before anything in the body is believed, the event name included.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

Headers = Mapping[str, str]


@dataclass(frozen=True)
class PushEvent:
    """A verified push webhook; the daemon fetches at once and decides what it means."""

    provider: str
    ref: str | None
    revision: str | None
    repository: str | None
    delivery: str | None


@dataclass(frozen=True)
class PreviewEvent:
    """A verified pull / merge request event with a head to preview (docs/previews.md).

    `fork` is True when the head's repository is not the base's, or cannot be told: the
    agent then runs none of its code unless [preview] allow_forks says so."""

    provider: str
    number: int
    head: str
    base: str | None
    fork: bool
    repository: str | None
    delivery: str | None


@dataclass(frozen=True)
class Ignored:
    """A verified webhook that is neither a push nor a request with a new head (GitHub's
    ping, a closed merge request): answered so the provider shows it delivered, and nothing
    fetched."""

    provider: str
    event: str | None


class WebhookRejected(Exception):
    """A webhook the agent will not act on; the message is safe to send to the caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unauthorized(WebhookRejected):
    """No secret is configured, or the signature (GitLab: the token) is missing or wrong."""


class BadRequest(WebhookRejected):
    """Signed, but the body is no JSON object, so there is no push to read."""


Event = PushEvent | PreviewEvent | Ignored
Verifier = Callable[[Headers, bytes, str], bool]


@dataclass(frozen=True)
class _Dialect:
    """How one provider spells a webhook: who signs what, and where the event name is."""

    name: str
    verify: Verifier
    credential: str
    event_header: str
    delivery_headers: tuple[str, ...]
    """Where the delivery's id is, the first one present winning."""
    push_events: frozenset[str]
    preview_events: frozenset[str] = frozenset()
    preview_actions: frozenset[str] = frozenset()
    """The actions of a request event that bring a new head (not closing, labelling...)."""


def header(headers: Headers, name: str) -> str | None:
    """The first header called `name` in any case: proxies and HTTP/2 lowercase names."""
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def _same(given: str | None, expected: str) -> bool:
    return hmac.compare_digest((given or "").encode(), expected.encode())


def _hmac_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _github_signed(headers: Headers, body: bytes, secret: str) -> bool:
    return _same(header(headers, "X-Hub-Signature-256"), "sha256=" + _hmac_hex(secret, body))


def _gitea_signed(headers: Headers, body: bytes, secret: str) -> bool:
    return _same(header(headers, "X-Gitea-Signature"), _hmac_hex(secret, body))


def _gitlab_token(headers: Headers, body: bytes, secret: str) -> bool:
    return _same(header(headers, "X-Gitlab-Token"), secret)


_GITHUB = _Dialect("github", _github_signed, "signature", "X-GitHub-Event",
                   ("X-GitHub-Delivery",), frozenset({"push"}), frozenset({"pull_request"}),
                   frozenset({"opened", "synchronize", "reopened"}))
_GITEA = _Dialect("gitea", _gitea_signed, "signature", "X-Gitea-Event", ("X-Gitea-Delivery",),
                  frozenset({"push"}), frozenset({"pull_request", "pull_request_sync"}),
                  frozenset({"opened", "synchronized", "reopened"}))
# GitLab's Idempotency-Key stays the same when a delivery is retried; older GitLabs send
# only the event's UUID.
_GITLAB = _Dialect("gitlab", _gitlab_token, "token", "X-Gitlab-Event",
                   ("Idempotency-Key", "X-Gitlab-Event-UUID"),
                   frozenset({"Push Hook", "Tag Push Hook"}), frozenset({"Merge Request Hook"}),
                   frozenset({"open", "update", "reopen"}))


def github(headers: Headers, body: bytes, secret: str | None) -> Event:
    """GitHub signs the body: X-Hub-Signature-256 is `sha256=` and its HMAC-SHA256."""
    return _receive(_GITHUB, headers, body, secret)


def gitea(headers: Headers, body: bytes, secret: str | None) -> Event:
    """Gitea signs like GitHub but sends the bare hex digest, in X-Gitea-Signature."""
    return _receive(_GITEA, headers, body, secret)


def gitlab(headers: Headers, body: bytes, secret: str | None) -> Event:
    """GitLab signs nothing: X-Gitlab-Token carries the configured secret itself."""
    return _receive(_GITLAB, headers, body, secret)


Parser = Callable[[Headers, bytes, str | None], Event]
PARSERS: Mapping[str, Parser] = MappingProxyType(
    {"github": github, "gitlab": gitlab, "gitea": gitea})
"""One reader per /hooks/PROVIDER endpoint."""


def _receive(dialect: _Dialect, headers: Headers, body: bytes, secret: str | None
             ) -> Event:
    # No secret means no webhooks: an unset secret must never verify an unsigned request.
    if not secret or not dialect.verify(headers, body, secret):
        raise Unauthorized(f"missing or invalid {dialect.name} webhook {dialect.credential}")
    event = header(headers, dialect.event_header) or ""
    if event not in dialect.push_events | dialect.preview_events:
        return Ignored(dialect.name, event or None)
    payload = _payload(body, header(headers, "Content-Type") or "")
    if not isinstance(payload, dict):
        raise BadRequest("webhook body is not a JSON object")
    delivery = next(filter(None, (header(headers, name) for name in dialect.delivery_headers)),
                    None)
    if event in dialect.preview_events:
        return _preview(dialect, event, payload, delivery)
    return PushEvent(
        provider=dialect.name,
        ref=_str(payload.get("ref")),
        revision=_str(payload.get("after") or payload.get("checkout_sha")),
        repository=_repository(payload),
        delivery=delivery,
    )


def _preview(dialect: _Dialect, event: str, payload: dict[str, Any], delivery: str | None
             ) -> PreviewEvent | Ignored:
    """A request event: GitHub and Gitea send `pull_request`, GitLab `object_attributes`."""
    if dialect is _GITLAB:
        attrs = _dict(payload.get("object_attributes"))
        number, action = attrs.get("iid"), attrs.get("action")
        head, base = _dict(attrs.get("last_commit")).get("id"), None
        source, target = attrs.get("source_project_id"), attrs.get("target_project_id")
        fork = source is None or source != target
    else:
        pull = _dict(payload.get("pull_request"))
        number, action = payload.get("number", pull.get("number")), payload.get("action")
        head_side, base_side = _dict(pull.get("head")), _dict(pull.get("base"))
        head, base = head_side.get("sha"), _str(base_side.get("sha"))
        head_repo = _dict(head_side.get("repo")).get("full_name")
        base_repo = _dict(base_side.get("repo")).get("full_name")
        fork = not isinstance(head_repo, str) or head_repo != base_repo
    if action not in dialect.preview_actions:
        return Ignored(dialect.name, f"{event} {action}" if isinstance(action, str) else event)
    if not isinstance(number, int) or isinstance(number, bool) or not isinstance(head, str):
        raise BadRequest(f"{event} webhook has no request number or head commit")
    return PreviewEvent(dialect.name, number, head, base, fork, _repository(payload), delivery)


def _payload(body: bytes, content_type: str) -> Any:
    """JSON, or GitHub's form encoding (payload=<json>); None when it is neither.

    A form content type with no `payload` field is read as JSON: `curl -d` and urllib label
    any body as a form, and a JSON body is what was meant.
    """
    try:
        if content_type.startswith("application/x-www-form-urlencoded"):
            form = urllib.parse.parse_qs(body.decode())
            if "payload" in form:
                return json.loads(form["payload"][0])
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _repository(payload: dict[str, Any]) -> str | None:
    repo = payload.get("repository") or payload.get("project")
    if not isinstance(repo, dict):
        return None
    for key in ("full_name", "path_with_namespace", "clone_url", "git_http_url"):
        if isinstance(repo.get(key), str):
            return repo[key]
    return None
