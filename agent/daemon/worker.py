"""The per-deployment worker: gather what is known, let the policy decide, carry it out.

A deployment's slot (agent/daemon/deployments.py) calls `work` on its own thread, one run at
a time. The decision itself is agent/daemon/policy.py's; every run or refusal ends through
the outcome funnel (agent/daemon/outcomes.py).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from agent.backoff import Backoff
from agent.config import AgentConfig, DeploymentConfig
from agent.daemon import policy, windows
from agent.daemon.deployments import Request
from agent.daemon.outcomes import Ending, Outcomes
from agent.daemon.runner import RunEnv, RunPlan, execute_run, provenance, start
from agent.report.build import before_hosts
from agent.source import Commit, FetchResult
from agent.vocab import Mode, RunStatus, Trigger

log = logging.getLogger(__name__)


class Worker:
    """Decides and runs for every deployment of one agent; the agent supplies what changes
    over its life (config on reload, the newest head, the run environment)."""

    def __init__(self, *, config: Callable[[], AgentConfig], head: Callable[[], FetchResult | None],
                 env: Callable[[], RunEnv], outcomes: Outcomes, retry_backoff: Backoff,
                 once: bool, clock: Callable[[], float]) -> None:
        self._config = config
        self._head = head
        self._env = env
        self.outcomes = outcomes
        self._retry_backoff = retry_backoff
        self._once = once
        self._clock = clock
        self._lock = threading.Lock()
        self._in_flight: Counter[str] = Counter()  # revisions whose checkout a run reads
        self._waiting: dict[str, str] = {}  # deployment -> the commit said to wait, once

    def now(self) -> float:
        """The worker's clock (tests give the agent one they move)."""
        return self._clock()

    def work(self, name: str, request: Request) -> Ending | None:
        """Look at one deployment; the ending of the run it made, if it made one."""
        if not self.outcomes.retry_held():
            return None  # the decision would read a state that lacks runs that ended
        deployment = self._config().deployment_named(name)
        if deployment is None:
            return None
        env = self._env()
        head = self._head()
        # A reconcile re-runs the applied commit, whatever the head: it needs no head facts.
        moved_to = head if request.kind != Trigger.RECONCILE else None
        facts = self._facts(env, deployment)
        env.metrics.set_suspended(name, facts.suspended)
        between = self._between(env, facts, moved_to)
        now = self._clock()
        closed = windows.check(deployment.windows, now)
        env.metrics.set_window_open(name, closed is None)
        situation = policy.Situation(
            deployment=facts, trigger=Trigger(request.kind),
            head=self._head_facts(env, facts, moved_to, between), now=now,
            requested=request.revision,
            reconcile_applies=self._config().reconcile.mode == "apply", once=self._once,
            retry_delay=self._retry_backoff.delay, window=closed,
            override_window=request.override_window)
        return self._carry_out(env, deployment, policy.decide(situation), head,
                               {c.revision: c for c in between})

    def refuse(self, refused: policy.RefusedHead) -> None:
        """Record a refused head for every deployment that is not suspended."""
        env = self._env()
        for deployment in self._config().deployment:
            decision = policy.decide_refusal(self._facts(env, deployment), refused)
            if isinstance(decision, policy.Refuse):
                self._refuse(env, deployment, decision, refused.trigger)

    # ---- facts ----

    def _facts(self, env: RunEnv, deployment: DeploymentConfig) -> policy.DeploymentFacts:
        row = env.db.applied_state(deployment.name)
        pin = env.db.pinned(deployment.name)
        return policy.DeploymentFacts(
            name=deployment.name, mode=Mode(deployment.mode), paths=tuple(deployment.paths),
            suspended=env.db.is_suspended(deployment.name),
            applied=row.revision if row else None,
            attempted=row.attempted_revision if row else None,
            attempts=row.attempts if row else 0,
            last_attempt_at=row.last_attempt_at if row else None,
            halted=row.halted_revision if row else None,
            pinned_head=pin.head if pin else None)

    def _between(self, env: RunEnv, facts: policy.DeploymentFacts, head: FetchResult | None
                 ) -> list[Commit]:
        """The commits a new head overtook (none when nothing is new)."""
        if head is None or head.revision == facts.applied:
            return []
        return env.source.overtaken(facts.applied, head.revision)

    def _head_facts(self, env: RunEnv, facts: policy.DeploymentFacts, head: FetchResult | None,
                    between: list[Commit]) -> policy.HeadFacts | None:
        if head is None:
            return None
        if head.revision == facts.applied:
            return policy.HeadFacts(head.revision, ())  # already applied: nothing to compare
        changed = head.changed_paths
        if facts.paths and facts.applied and head.previous != facts.applied:
            found = env.source.changed_paths(facts.applied, head.revision)
            changed = tuple(found) if found is not None else None
        return policy.HeadFacts(head.revision, changed, self._overtaken(env, facts, between))

    def _overtaken(self, env: RunEnv, facts: policy.DeploymentFacts, between: list[Commit]
                   ) -> tuple[policy.Overtaken, ...]:
        if not between:
            return ()
        seen = env.db.run_revisions(facts.name, limit=1000)
        return tuple(policy.Overtaken(
            c.revision, _as_tuple(env.source.touched_paths(c.revision)) if facts.paths else None,
            ran=c.revision in seen) for c in between)

    # ---- carrying decisions out ----

    def _carry_out(self, env: RunEnv, deployment: DeploymentConfig, decision: policy.Decision,
                   head: FetchResult | None, between: dict[str, Commit]) -> Ending | None:
        if isinstance(decision, policy.Wait):
            self._wait(deployment.name, decision, head)
            return None
        self._waiting.pop(deployment.name, None)
        if isinstance(decision, policy.Skip | policy.RetryAt):
            log.debug("nothing to run", extra={"deployment": deployment.name,
                                               "reason": _why(decision)})
            return None
        if isinstance(decision, policy.Advance):
            env.db.set_applied(deployment.name, decision.revision)
            env.metrics.set_applied_revision(deployment.name, decision.revision)
            log.info("new commit changes nothing under this deployment's paths",
                     extra={"deployment": deployment.name, "revision": decision.revision[:12]})
            return None
        self._keep_pin(env, deployment.name, decision, head)
        for revision in decision.supersede:
            self._supersede(env, deployment, decision, between[revision])
        return self._run(env, self._plan(env, deployment, decision, head))

    def _wait(self, name: str, wait: policy.Wait, head: FetchResult | None) -> None:
        """Log once per commit that it waits for the sync windows; it is not a run, so
        nothing is recorded, and a look after `until` (the next poll) runs it."""
        revision = head.revision if head is not None else "-"
        if self._waiting.get(name) == revision:
            return
        self._waiting[name] = revision
        until = (datetime.fromtimestamp(wait.until, UTC).isoformat(timespec="seconds")
                 if wait.until is not None else "no opening within a year")
        log.info("change waits for the sync window", extra={
            "deployment": name, "revision": revision[:12], "reason": wait.reason,
            "until": until})

    def _keep_pin(self, env: RunEnv, name: str, run: policy.Run,
                  head: FetchResult | None) -> None:
        """A rollback pins the deployment to its commit while the head stays where it is;
        the first run of another head lifts the pin."""
        if run.trigger == Trigger.ROLLBACK:
            pinned_head = head.revision if head is not None else None
            env.db.pin(name, run.revision, pinned_head)
            log.info("rollback: polls leave the deployment on this commit until a new commit",
                     extra={"deployment": name, "revision": run.revision[:12],
                            "head": (pinned_head or "-")[:12]})
            return
        pin = env.db.pinned(name)
        if pin is not None and head is not None and run.revision == head.revision != pin.head:
            env.db.unpin(name)
            log.info("a new commit ends the rollback's pin", extra={
                "deployment": name, "revision": run.revision[:12]})

    def _run(self, env: RunEnv, plan: RunPlan) -> Ending:
        """Run one plan, then drop checkouts nothing needs, so the state dir does not grow by
        one tree per commit. Kept: what runs are reading now, and every applied commit
        (reconcile re-runs it)."""
        with self._lock:
            self._in_flight[plan.revision] += 1
        try:
            ending = execute_run(env, plan)
            self.outcomes.finish(ending)
            return ending
        finally:
            with self._lock:
                self._in_flight[plan.revision] -= 1
                keep = {rev for rev, count in self._in_flight.items() if count > 0}
            keep |= {rev for d in self._config().deployment
                     if (rev := env.db.last_applied(d.name)) is not None}
            env.source.prune_checkouts(keep=keep)

    def _plan(self, env: RunEnv, deployment: DeploymentConfig, run: policy.Run,
              head: FetchResult | None) -> RunPlan:
        if head is not None and head.revision == run.revision:
            author, message, verified = head.author, head.message, head.verified
        else:
            commit = env.source.commit(run.revision)
            author, message = commit.author, commit.message
            verified = self._config().source.verify != "off"
        return RunPlan(deployment, run.trigger, run.mode, run.revision, run.previous, author,
                       message, verified, window_override=run.window_override)

    def _supersede(self, env: RunEnv, deployment: DeploymentConfig, run: policy.Run,
                   commit: Commit) -> None:
        run_id = env.db.record_superseded(deployment.name, run.trigger, deployment.mode,
                                          commit.revision, run.revision, run.previous,
                                          commit.author, commit.message)
        self.outcomes.finish(Ending(run_id, deployment.name, run.trigger, Mode(deployment.mode),
                                    commit.revision, RunStatus.SUPERSEDED, recorded=True,
                                    superseded_by=run.revision))

    def _refuse(self, env: RunEnv, deployment: DeploymentConfig, refuse: policy.Refuse,
                trigger: Trigger) -> None:
        previous = env.db.last_applied(deployment.name)
        commit = env.source.commit(refuse.revision)
        plan = RunPlan(deployment, trigger, Mode(deployment.mode), refuse.revision, previous,
                       commit.author, commit.message, False)
        started = datetime.now(UTC)
        run_id = start(env, plan)
        report = before_hosts(provenance(env, plan, run_id), plan.mode, started,
                              refuse.message, [])
        self.outcomes.finish(Ending(run_id, deployment.name, trigger, plan.mode,
                                    refuse.revision, RunStatus.FAILED, report=report,
                                    error=refuse.message, attempt=False))


def _as_tuple(paths: list[str] | None) -> tuple[str, ...] | None:
    return tuple(paths) if paths is not None else None


def _why(decision: policy.Skip | policy.RetryAt) -> str:
    if isinstance(decision, policy.Skip):
        return decision.reason
    return f"the failed commit {decision.revision[:12]} is retried at {decision.due:.0f}"
