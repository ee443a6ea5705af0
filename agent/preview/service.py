"""The agent's previews: find pull / merge requests with a new head, refuse forks, preview
each head once, post a commit status and edit the request's one comment in place.

Requests are found two ways, both drained by `work()`: the forge's request refs fetched into
the agent's clone at each poll (the forge is then asked whether the request is open and
whether its head is a fork), and request webhooks (which say so themselves; a webhook is
believed only for the head the request's ref points at). A fork's head is
refused before anything of it is exported, loaded or run: its inventory and deploy code are
Python that would run with the agent's rights (docs/previews.md). What was previewed is kept
in the state DB's meta table (request -> head SHA, comment id), so a restart neither previews
a head again nor posts a second comment; with the DB lost, the comment is found again by the
hidden marker it starts with (agent/preview/render.py).

The daemon calls `work()` from a slot of its own, one preview at a time
(agent/daemon/agent.py); a preview is plan mode only and is no run of a deployment.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.config import AgentConfig
from agent.config.models import PreviewConfig
from agent.http.webhooks import PreviewEvent
from agent.preview import render
from agent.preview.compare import Preview, preview
from agent.preview.forges import FORGES, PULL_REFS, Forge
from agent.preview.plan import HostKeys, RevisionPlan, Target, plan_revision
from agent.preview.repository import Repository
from agent.report.commit_status import repository_from_url
from agent.report.errors import DeliveryError
from agent.source import GitSource, SourceError
from agent.state import StateDB

log = logging.getLogger(__name__)

FORK_REFUSED = ("preview refused: head is from a fork; set [preview] allow_forks = true "
                "to allow")
_KEY = "preview:{provider}:{deployment}:{number}"


def target_of(config: AgentConfig) -> Target | None:
    """The deployment a preview plans: [preview] deployment, else the first."""
    name = config.preview.deployment
    deployment = (config.deployment_named(name) if name
                  else (config.deployment[0] if config.deployment else None))
    if deployment is None:
        return None
    return Target(deployment.inventory, tuple(deployment.deploys), dict(deployment.data),
                  deployment.limit, deployment.parallel, deployment.fail_percent,
                  deployment.name)


def forge_of(config: AgentConfig) -> Forge:
    settings = config.preview
    repository = settings.repository or repository_from_url(config.source.url)
    token = settings.token.get_secret_value() if settings.token else ""
    return FORGES[settings.provider](repository, token, settings.api_url)


class Previews:
    """The agent's preview loop; `received` and `work` are safe to call from any thread."""

    def __init__(self, config: Callable[[], AgentConfig], source: Callable[[], GitSource],
                 branch_head: Callable[[], str | None], db: StateDB, state_dir: Path,
                 host_keys: Callable[[], HostKeys], cancel: threading.Event) -> None:
        self._config = config
        self._source = source
        self._branch_head = branch_head
        self._db = db
        self._exports = state_dir / "previews"
        self._host_keys = host_keys
        self._cancel = cancel
        self._lock = threading.Lock()
        self._events: dict[int, PreviewEvent] = {}

    @property
    def settings(self) -> PreviewConfig:
        return self._config().preview

    def received(self, event: PreviewEvent) -> bool:
        """A request webhook; False when previews are off (the caller answers "ignored")."""
        if not self.settings.enabled or event.provider != self.settings.provider:
            return False
        with self._lock:
            self._events[event.number] = event
        return True

    def work(self) -> None:
        """Fetch request heads, take the webhooks received, preview every new head."""
        config = self._config()
        target = target_of(config)
        if not config.preview.enabled or target is None:
            return
        source = self._source()
        try:
            heads = source.fetch_pull_heads(PULL_REFS[config.preview.provider])
        except SourceError as exc:
            log.warning("preview: cannot fetch request heads", extra={"error": exc.message})
            heads = {}
        with self._lock:
            events, self._events = self._events, {}
        forge = forge_of(config)
        repo = Repository(source.git_dir, self._exports, config.source.timeout)
        for number in sorted(set(heads) | set(events)):
            if self._cancel.is_set():
                return
            event = events.get(number)
            if event is not None and heads.get(number) != event.head:
                # The forge's own ref says which commit request N is; a webhook naming
                # another (stale, or not fetched yet) is left to the lookup of a later poll.
                log.info("preview: the webhook's head is not the request's ref", extra={
                    "request": number, "head": event.head[:12]})
                event = None
                if number not in heads:
                    continue
            head = event.head if event else heads[number]
            try:
                self._one(forge, repo, target, number, head, event)
            except DeliveryError as exc:
                log.warning("preview: the forge did not take it", extra={
                    "request": number, "head": head[:12], "error": str(exc)})
        repo.prune()

    def _one(self, forge: Forge, repo: Repository, target: Target, number: int, head: str,
             event: PreviewEvent | None) -> None:
        key = _KEY.format(provider=self.settings.provider, deployment=target.name,
                          number=number)
        record = _load(self._db.meta_get(key))
        if record.get("head") == head:
            return
        context = f"pullinfra/preview/{target.name}"
        if event is not None:
            fork, base_hint = event.fork, event.base
        else:
            pull = forge.pull_request(number)
            if not pull.open:  # a closed request's ref stays: ask about it once per head
                self._db.meta_set(key, json.dumps({**record, "head": head}))
                return
            fork, base_hint = pull.fork, None
        if fork and not self.settings.allow_forks:
            log.warning("preview: refusing a request from a fork", extra={
                "request": number, "head": head[:12]})
            forge.set_status(head, False, context, FORK_REFUSED)
            self._db.meta_set(key, json.dumps({**record, "head": head}))
            return
        result = self.preview(repo, target, head, base_hint)
        if result is None:
            return
        forge.set_status(head, not result.has_failures, context, render.status_line(result))
        known = record.get("comment") or forge.find_comment(number, render.marker(target.name))
        comment = forge.upsert_comment(number, render.comment(result), known)
        self._db.meta_set(key, json.dumps({"head": head, "comment": comment}))
        log.info("preview posted", extra={
            "request": number, "head": head[:12], "base": result.base[:12],
            "would_change": len(result.changing), "failed": len(result.failing)})

    def preview(self, repo: Repository, target: Target, head: str, base_hint: str | None
                ) -> Preview | None:
        """Plan head and base; None when the head is not in the clone (yet)."""
        try:
            head = repo.resolve(head)
            tip = base_hint or self._branch_head()
            base = (repo.merge_base(tip, head) if tip else None) or tip or head
            files = repo.diff_stat(base, head)
        except SourceError as exc:
            log.warning("preview: commit not in the clone", extra={"error": exc.message})
            return None
        host_keys = self._host_keys()
        plans = [self._plan(repo, revision, target, host_keys) for revision in (head, base)]
        return preview(target.name, plans[1], plans[0], files)

    def _plan(self, repo: Repository, revision: str, target: Target, host_keys: HostKeys
              ) -> RevisionPlan:
        try:
            checkout = repo.checkout(revision)
        except (SourceError, OSError) as exc:
            return RevisionPlan(revision, None, f"cannot export {revision[:12]}: {exc}")
        return plan_revision(checkout, revision, target, host_keys=host_keys,
                             cancel=self._cancel)


def _load(text: str | None) -> dict[str, Any]:
    try:
        found = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {}
    return found if isinstance(found, dict) else {}


__all__ = ["FORK_REFUSED", "Previews", "forge_of", "target_of"]
