"""A commit status on the applied commit, context/name `pullinfra/<deployment>`.

GitHub: POST {api}/repos/{owner}/{repo}/statuses/{sha}, `Authorization: Bearer <token>`,
        body {state: success|failure, context, description}.
GitLab: POST {api}/projects/{id}/statuses/{sha}, `PRIVATE-TOKEN: <token>`,
        body {state: success|failed, name, description}; `id` is the numeric project id or the
        URL-encoded "group/project" path.

`api` defaults to the public service (https://api.github.com, https://gitlab.com/api/v4) and
is configurable for GitHub Enterprise, self-hosted GitLab, and tests.
"""

from __future__ import annotations

import json
import re
import urllib.parse

from agent.report import transport
from agent.report.delivery import Delivery
from agent.report.errors import PermanentError
from agent.report.model import ChangeReport
from agent.vocab import RunStatus

GITHUB_API = "https://api.github.com"
GITLAB_API = "https://gitlab.com/api/v4"
MAX_DESCRIPTION = 140  # GitHub's limit

_SUCCESS = frozenset({RunStatus.UNCHANGED, RunStatus.CHANGED, RunStatus.DRIFT_CORRECTED})
"""Anything else (failed, partial, interrupted, drift_detected) means the commit is not
fully applied as written, so the status is a failure."""


def context(report: ChangeReport) -> str:
    return f"pullinfra/{report.deployment}"


def _revision(report: ChangeReport) -> str:
    if not report.source.revision or not report.deployment:
        raise PermanentError("a commit status needs the report's deployment and revision")
    return report.source.revision


def description(report: ChangeReport) -> str:
    h = report.summary.hosts
    text = (
        f"{report.status}: {h.changed} changed, {h.unchanged} unchanged, "
        f"{h.failed} failed, {h.unreachable} unreachable of {h.total} hosts"
    )
    return text[:MAX_DESCRIPTION]


def repository_from_url(url: str) -> str:
    """"owner/repo" from a git remote URL (https, ssh, scp-like), for the status path."""
    match = re.search(r"[:/]([^/:]+/[^/]+?)(?:\.git)?/?$", url)
    if not match:
        raise ValueError(f"cannot tell owner/repo from the git URL {url!r}")
    return match.group(1)


class _StatusSender:
    """A commit status on one forge: where its API is, whose repository, and the token.

    Forges differ only in the URL, the names of the state and context fields, the word for
    a failure, and how the token is sent.
    """

    default_api = ""
    context_field = "context"
    failure = "failure"

    def __init__(self, repository: str, token: str, api: str | None = None,
                 timeout: float = 10.0):
        self.repository = repository.strip("/")
        self.api = (api or self.default_api).rstrip("/")
        self._token = token
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.repository!r}, {transport.where(self.api)!r})"

    def url(self, sha: str) -> str:
        raise NotImplementedError

    def headers(self) -> dict[str, str]:
        raise NotImplementedError

    def send(self, delivery: Delivery) -> None:
        report = delivery.report
        body = {
            "state": "success" if report.status in _SUCCESS else self.failure,
            self.context_field: context(report),
            "description": description(report),
        }
        transport.post(self.url(_revision(report)), json.dumps(body).encode(), self.headers(),
                       self.timeout)


class GitHubStatusSender(_StatusSender):
    default_api = GITHUB_API

    def url(self, sha: str) -> str:
        return f"{self.api}/repos/{self.repository}/statuses/{sha}"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}",
                "Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


class GitLabStatusSender(_StatusSender):
    default_api = GITLAB_API
    context_field = "name"
    failure = "failed"

    def url(self, sha: str) -> str:
        project = urllib.parse.quote(self.repository, safe="")
        return f"{self.api}/projects/{project}/statuses/{sha}"

    def headers(self) -> dict[str, str]:
        return {"PRIVATE-TOKEN": self._token}
