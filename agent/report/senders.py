"""Build the sender for one `[[notify]]` entry.

Takes any object shaped like agent.config.NotifyConfig (type, url, secret, timeout), so the
report package does not depend on the config package.

For the commit-status types, `url` says where the statuses go:
- github-status: "https://api.github.com/repos/OWNER/REPO" (or GitHub Enterprise's
  ".../api/v3/repos/OWNER/REPO"); a bare API base ("https://api.github.com") takes OWNER/REPO
  from the source URL.
- gitlab-status: "https://gitlab.example.com/api/v4/projects/ID" (ID numeric or URL-encoded
  "group%2Fproject"); a bare API base takes the project path from the source URL.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any, Protocol

from agent.report.commit_status import (
    GitHubStatusSender,
    GitLabStatusSender,
    repository_from_url,
)
from agent.report.delivery import Sender
from agent.report.slack import SlackSender
from agent.report.webhook import WebhookSender


class NotifySpec(Protocol):
    type: str
    url: str
    secret: Any  # str | pydantic.SecretStr | None
    timeout: float


def _reveal(secret: Any) -> str | None:
    if secret is None:
        return None
    reveal = getattr(secret, "get_secret_value", None)
    return reveal() if reveal else str(secret)


def build_sender(spec: NotifySpec, source_url: str | None = None) -> Sender:
    """The sender for `spec`; ValueError when the entry cannot work (e.g. no repository)."""
    secret = _reveal(spec.secret)
    timeout = float(spec.timeout)
    if spec.type == "webhook":
        return WebhookSender(spec.url, secret, timeout)
    if spec.type == "slack":
        return SlackSender(spec.url, timeout)
    if spec.type in ("github-status", "gitlab-status") and not secret:
        raise ValueError(f"{spec.type} needs `secret` (the API token)")
    if spec.type == "github-status":
        match = re.match(r"^(.*)/repos/([^/]+/[^/]+?)/?$", spec.url)
        if match:
            return GitHubStatusSender(match.group(2), secret, match.group(1), timeout)
        return GitHubStatusSender(_repo(spec, source_url), secret, spec.url, timeout)
    if spec.type == "gitlab-status":
        match = re.match(r"^(.*)/projects/([^/]+)/?$", spec.url)
        if match:
            project = urllib.parse.unquote(match.group(2))
            return GitLabStatusSender(project, secret, match.group(1), timeout)
        return GitLabStatusSender(_repo(spec, source_url), secret, spec.url, timeout)
    raise ValueError(f"unknown notifier type {spec.type!r}")


def _repo(spec: NotifySpec, source_url: str | None) -> str:
    if not source_url:
        raise ValueError(
            f"{spec.type}: url {spec.url!r} names no repository; use .../repos/OWNER/REPO "
            "(GitHub) or .../projects/ID (GitLab)"
        )
    return repository_from_url(source_url)
