"""What a preview asks of a forge: a commit status on the head, one comment per pull request
created and then edited in place, and a pull request's head repository (is it a fork?).

GitHub: statuses and the status headers as agent/report/commit_status.py sends them;
        POST /repos/{o}/{r}/issues/{n}/comments, PATCH /repos/{o}/{r}/issues/comments/{id};
        GET /repos/{o}/{r}/pulls/{n} (head.repo.full_name against base.repo.full_name).
Gitea:  GitHub's paths under its /api/v1, `Authorization: token ...`.
GitLab: POST /projects/{id}/merge_requests/{iid}/notes, PUT .../notes/{note_id};
        GET /projects/{id}/merge_requests/{iid} (source_project_id against target_project_id).

HTTP goes through agent/report/transport.py, so errors are its RetryableError and
PermanentError and never carry the token or a URL's path.
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from typing import Any

from agent.report import transport
from agent.report.commit_status import GitHubStatusSender, GitLabStatusSender
from agent.report.errors import PermanentError

PULL_REFS = {"github": "refs/pull/*/head", "gitea": "refs/pull/*/head",
             "gitlab": "refs/merge-requests/*/head"}
"""Where each forge keeps its pull / merge requests' heads in the repository itself."""

_NOT_FOUND = 404


@dataclass(frozen=True)
class PullRequest:
    """What the agent must know of a request before it runs any of its code."""

    number: int
    head: str | None
    fork: bool
    open: bool


class Forge:
    """One forge's API for one repository. Subclasses differ in paths and field names."""

    status_sender: type[GitHubStatusSender] | type[GitLabStatusSender] = GitHubStatusSender

    def __init__(self, repository: str, token: str, api: str | None = None,
                 timeout: float = 10.0) -> None:
        self._status = self.status_sender(repository, token, api, timeout)
        self.repository = self._status.repository
        self.api = self._status.api
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.repository!r}, {transport.where(self.api)!r})"

    def set_status(self, sha: str, success: bool, context: str, description: str) -> None:
        body = {"state": "success" if success else self._status.failure,
                self._status.context_field: context, "description": description}
        self._call("POST", self._status.url(sha), body)

    def upsert_comment(self, number: int, body: str, comment_id: str | None) -> str:
        """Edit the request's comment `comment_id` in place, or create it; its id. A comment
        that someone deleted is created again."""
        if comment_id is not None:
            try:
                self._call(self.edit_method, self.comment_url(number, comment_id),
                           {"body": body})
                return comment_id
            except PermanentError as exc:
                if exc.status != _NOT_FOUND:
                    raise
        created = self._call("POST", self.comments_url(number), {"body": body})
        if not isinstance(created, dict) or "id" not in created:
            raise PermanentError(f"{transport.where(self.api)} created a comment without id")
        return str(created["id"])

    def find_comment(self, number: int, marker: str) -> str | None:
        """The id of the request's comment that carries `marker`, from the first page of its
        comments (the agent's comes early): its own again when the state DB was lost."""
        found = self._call("GET", self.comments_url(number) + self.first_page, None)
        for comment in found if isinstance(found, list) else []:
            if isinstance(comment, dict) and marker in str(comment.get("body") or ""):
                return str(comment["id"])
        return None

    def pull_request(self, number: int) -> PullRequest:
        data = self._call("GET", self.pull_url(number), None)
        if not isinstance(data, dict):
            raise PermanentError(f"{transport.where(self.api)} answered no pull request")
        return self.read_pull(number, data)

    # ---- what differs between forges ----
    edit_method = "PATCH"
    first_page = "?per_page=100"

    def comments_url(self, number: int) -> str:
        return f"{self.api}/repos/{self.repository}/issues/{number}/comments"

    def comment_url(self, number: int, comment_id: str) -> str:
        return f"{self.api}/repos/{self.repository}/issues/comments/{comment_id}"

    def pull_url(self, number: int) -> str:
        return f"{self.api}/repos/{self.repository}/pulls/{number}"

    def read_pull(self, number: int, data: dict[str, Any]) -> PullRequest:
        head, base = data.get("head") or {}, data.get("base") or {}
        head_repo = (head.get("repo") or {}).get("full_name")
        base_repo = (base.get("repo") or {}).get("full_name") or self.repository
        # A head whose repository is gone (a deleted fork) is a fork too: unknown is unsafe.
        fork = head_repo is None or head_repo.lower() != base_repo.lower()
        return PullRequest(number, head.get("sha"), fork, data.get("state") == "open")

    def _call(self, method: str, url: str, body: dict[str, Any] | None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        _status, answer = transport.call(method, url, data, self._status.headers(),
                                         self.timeout)
        try:
            return json.loads(answer) if answer.strip() else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None


class GitHub(Forge):
    pass


class _GiteaStatus(GitHubStatusSender):
    default_api = ""

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self._token}", "Accept": "application/json"}


class Gitea(Forge):
    status_sender = _GiteaStatus
    first_page = "?limit=50"


class GitLab(Forge):
    status_sender = GitLabStatusSender
    edit_method = "PUT"
    first_page = "?per_page=100&sort=asc"

    @property
    def _project(self) -> str:
        return urllib.parse.quote(self.repository, safe="")

    def comments_url(self, number: int) -> str:
        return f"{self.api}/projects/{self._project}/merge_requests/{number}/notes"

    def comment_url(self, number: int, comment_id: str) -> str:
        return f"{self.comments_url(number)}/{comment_id}"

    def pull_url(self, number: int) -> str:
        return f"{self.api}/projects/{self._project}/merge_requests/{number}"

    def read_pull(self, number: int, data: dict[str, Any]) -> PullRequest:
        source, target = data.get("source_project_id"), data.get("target_project_id")
        fork = source is None or source != target
        return PullRequest(number, data.get("sha"), fork, data.get("state") == "opened")


FORGES: dict[str, type[Forge]] = {"github": GitHub, "gitlab": GitLab, "gitea": Gitea}
