"""The agent's lifecycle: start, poll/reconcile/trigger, decide what each deployment runs,
reload, stop. Everything lives on the `Agent` object (no process globals), so tests can run
two agents in one process.

Decisions, in one place (`_plan`):
- a commit is run once per deployment: `applied.revision` in the state DB says which;
- a failed commit is retried with exponential backoff (`record_attempt` counts), never on
  every poll; a newer commit runs at once;
- commits between the applied one and the newest, never run, are recorded as superseded;
- a deployment whose `paths` the new commit does not touch moves to it without a run;
- a suspended deployment does nothing; reconcile re-runs the applied commit.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent import __version__
from agent.backoff import Backoff
from agent.config import AgentConfig, DeploymentConfig
from agent.daemon.commits import commit_info, overtaken, touched_paths
from agent.daemon.deployments import DeploymentSlot, Request, SubmitResult
from agent.daemon.runner import (
    FAILED_STATUSES,
    RunEnv,
    RunOutcome,
    RunPlan,
    execute_run,
    failed_report,
)
from agent.daemon.scheduler import Jobs
from agent.http import WEBHOOK_PROVIDERS, AgentHTTPServer, PushEvent
from agent.metrics import Metrics
from agent.refusals import DeploymentSuspended, ShuttingDown, UnknownDeployment
from agent.report.model import ChangeReport
from agent.report.outbox import Notifier, Outbox, OutboxRunner
from agent.report.senders import build_sender
from agent.source import (
    FetchError,
    FetchResult,
    GitSource,
    NonFastForward,
    SourceError,
    VerificationFailed,
    paths_match,
)
from agent.state import StateDB

log = logging.getLogger(__name__)


class AgentError(Exception):
    """The agent cannot start with this configuration (port taken, bad notifier...)."""


class Agent:
    """One GitOps agent: a source, its deployments, their history, metrics and reports."""

    def __init__(self, config: AgentConfig, *, once: bool = False,
                 retry_backoff: Backoff | None = None,
                 fetch_backoff: Backoff | None = None,
                 outbox_interval: float = 1.0) -> None:
        self.config = config
        self.once = once
        self.state_dir = Path(config.state.resolved_dir(once)).resolve()
        self.instance = config.instance or socket.gethostname()
        self.metrics = Metrics(version=__version__)
        try:
            self.db = StateDB.in_state_dir(self.state_dir)
        except OSError as exc:
            raise AgentError(f"state dir {self.state_dir}: {exc.strerror or exc}; set "
                             "[state] dir to a writable directory") from None
        self.source = GitSource(config.source, self.state_dir)
        poll = config.source.poll_interval
        self._retry_backoff = retry_backoff or Backoff(
            base=max(5.0, 2 * poll), cap=max(1800.0, 2 * poll), jitter=0.0)
        self._fetch_backoff = fetch_backoff or Backoff(
            base=min(max(poll, 1.0), 5.0), cap=max(300.0, poll), jitter=0.1)
        self._fetch_not_before = 0.0
        self._head: FetchResult | None = None
        self._fetched_once = False
        self._refused_reported: set[str] = set()
        self._cancel = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.RLock()
        self._slots: dict[str, DeploymentSlot] = {}
        self._in_flight: Counter[str] = Counter()  # revisions whose checkout a run is reading
        self._outbox_interval = outbox_interval
        self.outbox = self._build_outbox(config)
        self._outbox_runner: OutboxRunner | None = None
        self.http: AgentHTTPServer | None = None
        self._jobs = Jobs(self.poll, self.reconcile)
        self._init_deployments(config)

    # ---- lifecycle ----

    def start(self) -> None:
        """Recover from a crash, serve HTTP, start delivery and the timers."""
        rerun = self._recover()
        self.http = self._build_http(self.config)
        self.http.start()
        self._outbox_runner = OutboxRunner(self.outbox, interval=self._outbox_interval)
        self._outbox_runner.start()
        log.info("agent started", extra={
            "instance": self.instance, "version": __version__, "state_dir": str(self.state_dir),
            "source": self.source.display_url, "ref": self.config.source.ref,
            "listen": self.http.url, "deployments": [d.name for d in self.config.deployment],
            "shard": self._shard_label() or "-"})
        if rerun:
            # Fetch first so the re-run sees the newest commit, then re-run what a crash cut.
            threading.Thread(target=self._rerun_interrupted, args=(rerun,),
                             name="pullinfra-recover", daemon=True).start()
        self._jobs.start(self.config)

    def run_once(self) -> int:
        """`--once`: fetch, run what needs running, one delivery pass; the exit code."""
        rerun = self._recover()
        self._fetch("poll")
        outcomes: list[RunOutcome] = []
        for deployment in self.config.deployment:
            kind = "retry" if deployment.name in rerun else "poll"
            plan = self._plan(deployment, Request(kind))
            if plan is not None:
                outcomes.append(self._execute(plan))
        self.outbox.deliver_due()
        failed = [o for o in outcomes if o.status in FAILED_STATUSES | {"interrupted"}]
        log.info("once: done", extra={"runs": len(outcomes), "failed": len(failed),
                                      "pending_reports": self.db.outbox_depth()})
        self.db.close()
        return 1 if failed or self._last_fetch_failed else 0

    def stop(self, grace: float | None = None) -> bool:
        """Stop scheduling, let runs reach the end of their operation (at most `grace`
        seconds), record cut runs as interrupted, deliver what can be delivered.

        Returns False when a run was still going after the grace period (its engine threads
        may still hold a host; the caller should exit without waiting for them).
        """
        grace = self.config.shutdown_grace if grace is None else grace
        self._stopping.set()
        self._jobs.stop()
        with self._lock:
            slots = list(self._slots.values())
        for slot in slots:
            slot.close()
        running = [s.name for s in slots if s.running]
        self._cancel.set()
        if running:
            log.info("stopping: waiting for runs to finish their operation",
                     extra={"deployments": running, "grace_seconds": grace})
        deadline = time.monotonic() + grace
        clean = all(s.wait_idle(max(0.0, deadline - time.monotonic())) for s in slots)
        if not clean:
            for run in self.db.list_runs(status="running", limit=100):
                self.db.finish_run(run.id, "interrupted",
                                   error="the agent stopped: shutdown_grace ran out mid-run")
                self.metrics.observe_run(run.deployment, run.trigger, "interrupted", {}, {})
                log.warning("run interrupted: grace period ran out", extra={
                    "run_id": run.id, "deployment": run.deployment})
        if self._outbox_runner is not None:
            self._outbox_runner.stop(timeout=grace)
        try:
            self.outbox.deliver_due()
        except Exception:
            log.exception("last report delivery pass failed")
        if self.http is not None:
            self.http.stop()
        log.info("agent stopped", extra={"clean": clean,
                                         "pending_reports": self.db.outbox_depth()})
        if clean:
            self.db.close()
        return clean

    def reload(self, config: AgentConfig) -> None:
        """Switch to a new, already validated config; runs in flight keep the old one."""
        if Path(config.state.resolved_dir(self.once)).resolve() != self.state_dir:
            log.warning("reload: [state] dir cannot change while running; keeping "
                        f"{self.state_dir} (restart the agent to move it)")
            config = config.model_copy(update={"state": self.config.state})
        old = self.config
        outbox = self._build_outbox(config) if config.notify != old.notify else None
        with self._lock:
            if config.source != old.source:
                self.source = GitSource(config.source, self.state_dir)
                self._head = None
            if outbox is not None:
                self.outbox = self._replace_outbox(outbox)
            self.config = config
            self._init_deployments(config)
        if config.http != old.http and self.http is not None:
            self.http.stop()
            self.http = self._build_http(config)
            self.http.start()
        self._jobs.configure(config)
        log.info("config reloaded", extra={
            "deployments": [d.name for d in config.deployment],
            "poll_interval": config.source.poll_interval,
            "reconcile_interval": config.reconcile.interval})
        self.poll("poll")

    def ready(self) -> tuple[bool, str]:
        if self._fetched_once:
            return True, "ok"
        return False, "waiting for the first successful fetch of the source"

    # ---- triggers (timers, HTTP, webhooks) ----

    def poll(self, kind: str = "poll") -> None:
        """Fetch (unless backing off) and let each deployment decide whether it must run."""
        if self._stopping.is_set():
            return
        self._refresh_suspended()
        if kind == "poll" and time.time() < self._fetch_not_before:
            self._submit_all(Request("poll"))  # due retries of failed commits still happen
            return
        self._fetch(kind)
        self._submit_all(Request(kind))  # type: ignore[arg-type]

    def reconcile(self) -> None:
        if self._stopping.is_set():
            return
        self._refresh_suspended()
        self._submit_all(Request("reconcile"))

    def trigger(self, deployment: str | None) -> Mapping[str, Any]:
        """`POST /api/trigger` and `pullinfra trigger`: fetch now, then run (again)."""
        if self._stopping.is_set():
            raise ShuttingDown("the agent is shutting down")
        names = [d.name for d in self.config.deployment]
        if deployment is not None:
            if deployment not in names:
                raise UnknownDeployment(f"no deployment {deployment!r}; configured: "
                                        f"{', '.join(names) or 'none'}")
            if self.db.is_suspended(deployment):
                raise DeploymentSuspended(f"deployment {deployment!r} is suspended; run "
                                          f"`pullinfra resume {deployment}` first")
            names = [deployment]
        log.info("trigger received", extra={"deployments": names})
        threading.Thread(target=self._manual, args=(names,), name="pullinfra-trigger",
                         daemon=True).start()
        return {"deployments": names}

    def push_received(self, event: PushEvent) -> None:
        """A verified push webhook: fetch at once (on its own thread, not the request's)."""
        log.info("push webhook received", extra={
            "provider": event.provider, "ref": event.ref or "-",
            "revision": (event.revision or "-")[:12], "delivery": event.delivery or "-"})
        threading.Thread(target=self.poll, args=("webhook",), name="pullinfra-webhook",
                         daemon=True).start()

    def submit(self, name: str, request: Request) -> SubmitResult:
        with self._lock:
            slot = self._slots.get(name)
        return slot.submit(request) if slot is not None else "refused"

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Tests and --once: wait until no deployment is running or queued."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                slots = list(self._slots.values())
            if all(not s.running and s.pending is None for s in slots):
                return True
            time.sleep(0.05)
        return False

    # ---- internals: source ----

    _last_fetch_failed = False

    def _fetch(self, kind: str) -> FetchResult | None:
        """Fetch the ref; returns the new head, or None (failure or refusal, both handled)."""
        started = time.monotonic()
        with self._lock:
            source = self.source
        try:
            head = source.fetch(previous=self._baseline())
        except FetchError as exc:
            self.metrics.observe_fetch("failure", time.monotonic() - started)
            wait = self._fetch_backoff.failure()
            self._fetch_not_before = time.time() + wait
            self._last_fetch_failed = True
            log.warning("fetch failed; backing off", extra={
                "source": source.display_url, "error": exc.message,
                "failures": self._fetch_backoff.failures, "retry_in_seconds": round(wait, 1),
                "keeps_reconciling": self._head.revision[:12] if self._head else "-"})
            return None
        except (NonFastForward, VerificationFailed) as exc:
            self.metrics.observe_fetch("rejected", time.monotonic() - started)
            self._fetched_once = True
            self._last_fetch_failed = True
            if isinstance(exc, VerificationFailed):
                self.metrics.count_verification_failure()
            self._report_refusal(exc, kind)
            return None
        except SourceError as exc:
            self.metrics.observe_fetch("failure", time.monotonic() - started)
            self._last_fetch_failed = True
            log.error("fetch failed", extra={"source": source.display_url,
                                             "error": exc.message})
            return None
        now = time.time()
        self.metrics.observe_fetch("success", time.monotonic() - started, now=now)
        self.metrics.set_source_revision(head.revision)
        self._fetch_backoff.success()
        self._fetch_not_before = 0.0
        self._last_fetch_failed = False
        if self._head is None or self._head.revision != head.revision:
            log.info("fetched new commit", extra={
                "revision": head.revision[:12], "author": head.author, "commit": head.summary,
                "verified": head.verified, "forced": head.forced, "trigger": kind})
        self._head = head
        self._fetched_once = True
        return head

    def _baseline(self) -> str | None:
        """The force-push baseline when the clone lost its own (a deleted clone)."""
        states = [self.db.applied_state(d.name) for d in self.config.deployment]
        applied = [s for s in states if s and s.revision and s.applied_at]
        return max(applied, key=lambda s: s.applied_at or 0).revision if applied else None

    def _report_refusal(self, exc: NonFastForward | VerificationFailed, kind: str) -> None:
        """A refused head: one log line always, one failed run + report per new sha."""
        sha = exc.new if isinstance(exc, NonFastForward) else exc.revision
        key = f"refused:{sha}"
        if sha in self._refused_reported or self.db.meta_get(key):
            log.debug("head still refused", extra={"revision": sha[:12]})
            return
        self._refused_reported.add(sha)
        self.db.meta_set(key, str(time.time()))
        log.error("refusing the fetched head", extra={"revision": sha[:12],
                                                      "error": exc.message})
        info = commit_info(self.source.git_dir, sha)
        trigger = kind if kind in ("poll", "webhook", "manual") else "poll"
        for deployment in self.config.deployment:
            if self.db.is_suspended(deployment.name):
                continue
            previous = self.db.last_applied(deployment.name)
            plan = RunPlan(deployment, trigger, deployment.mode, sha, previous, info.author,
                           info.message, False)
            started = datetime.now(UTC)
            run_id = self.db.start_run(deployment.name, trigger, deployment.mode, sha,
                                       previous, info.author, info.message)
            document = failed_report(self._env(), plan, run_id, started, exc.message, [])
            report = ChangeReport.from_dict(document)
            self.db.finish_run(run_id, "failed", report.to_dict(), {}, error=exc.message)
            self.metrics.observe_report(report)
            self._enqueue(report)
            log.warning("run finished", extra={
                "run_id": run_id, "deployment": deployment.name, "trigger": trigger,
                "mode": deployment.mode, "revision": sha[:12], "status": "failed",
                "error": exc.message})

    # ---- internals: deciding and running ----

    def _submit_all(self, request: Request) -> None:
        if self._head is None and request.kind not in ("reconcile", "manual", "retry"):
            return
        for deployment in self.config.deployment:
            self.submit(deployment.name, request)

    def _manual(self, names: list[str]) -> None:
        self._fetch("manual")
        for name in names:
            self.submit(name, Request("manual"))

    def _rerun_interrupted(self, rerun: Mapping[str, str | None]) -> None:
        self._fetch("poll")
        for name, revision in rerun.items():
            log.info("re-running a run the last agent process did not finish",
                     extra={"deployment": name, "revision": (revision or "-")[:12]})
            self.submit(name, Request("retry", revision))

    def _work(self, name: str, request: Request) -> None:
        """A slot's worker: decide, then run (one at a time per deployment)."""
        if self._stopping.is_set():
            return
        deployment = self.config.deployment_named(name)
        if deployment is None:
            return
        plan = self._plan(deployment, request)
        if plan is not None and not self._stopping.is_set():
            self._execute(plan)

    def _execute(self, plan: RunPlan) -> RunOutcome:
        """Run one plan, then drop checkouts nothing needs, so the state dir does not grow by
        one tree per commit. Kept: what runs are reading now, and every applied commit
        (reconcile re-runs it)."""
        with self._lock:
            self._in_flight[plan.revision] += 1
        try:
            return execute_run(self._env(), plan)
        finally:
            with self._lock:
                self._in_flight[plan.revision] -= 1
                keep = {rev for rev, count in self._in_flight.items() if count > 0}
            keep |= {rev for d in self.config.deployment
                     if (rev := self.db.last_applied(d.name)) is not None}
            self.source.prune_checkouts(keep=keep)

    def _plan(self, deployment: DeploymentConfig, request: Request) -> RunPlan | None:
        name = deployment.name
        if self.db.is_suspended(name):
            self.metrics.set_suspended(name, True)
            log.debug("deployment suspended; skipping", extra={"deployment": name})
            return None
        self.metrics.set_suspended(name, False)
        applied = self.db.applied_state(name)
        applied_rev = applied.revision if applied else None
        if request.kind == "reconcile":
            if applied_rev is None:
                return None
            if applied and applied.attempts and applied.attempted_revision != applied_rev:
                return None  # a newer failed commit is being retried; do not undo it
            mode = ("apply" if self.config.reconcile.mode == "apply"
                    and deployment.mode == "apply" else "plan")
            return self._make_plan(deployment, "reconcile", mode, applied_rev, applied_rev)
        head = self._head
        trigger: str = request.kind
        if head is None:
            if request.kind in ("manual", "retry") and (request.revision or applied_rev):
                target = request.revision or applied_rev
                assert target is not None
                return self._make_plan(deployment, trigger, deployment.mode, target,
                                       applied_rev)
            return None
        target = head.revision
        if request.kind in ("poll", "webhook"):
            if target == applied_rev:
                return None
            if deployment.paths and applied_rev:
                # The fetch already diffed the head against the newest applied commit.
                changed = (head.changed_paths if head.previous == applied_rev
                           else self.source.changed_paths(applied_rev, target))
                if not paths_match(deployment.paths, changed):
                    self.db.set_applied(name, target)
                    self.metrics.set_applied_revision(name, target)
                    log.info("new commit changes nothing under this deployment's paths",
                             extra={"deployment": name, "revision": target[:12]})
                    return None
            if applied and applied.attempts and applied.attempted_revision == target:
                if not self.once:
                    due = (applied.last_attempt_at or 0) + self._retry_backoff.delay(
                        applied.attempts)
                    if time.time() < due:
                        return None
                trigger = "retry"
        self._record_superseded(deployment, applied_rev, target, trigger)
        return self._make_plan(deployment, trigger, deployment.mode, target, applied_rev)

    def _make_plan(self, deployment: DeploymentConfig, trigger: str, mode: str, revision: str,
                   previous: str | None) -> RunPlan:
        head = self._head
        if head is not None and head.revision == revision:
            author, message, verified = head.author, head.message, head.verified
        else:
            info = commit_info(self.source.git_dir, revision)
            author, message = info.author, info.message
            verified = self.config.source.verify != "off"
        return RunPlan(deployment, trigger, mode, revision, previous, author, message,
                       verified)

    def _record_superseded(self, deployment: DeploymentConfig, applied: str | None,
                           target: str, trigger: str) -> None:
        between = overtaken(self.source.git_dir, applied, target)
        if not between:
            return
        seen = self.db.run_revisions(deployment.name, limit=1000)
        for commit in between:
            if commit.revision in seen:
                continue
            if deployment.paths and not paths_match(
                    deployment.paths, touched_paths(self.source.git_dir, commit.revision)):
                continue
            self.db.record_superseded(deployment.name, trigger, deployment.mode,
                                      commit.revision, target, applied, commit.author,
                                      commit.message)
            log.info("commit superseded", extra={
                "deployment": deployment.name, "revision": commit.revision[:12],
                "superseded_by": target[:12]})

    def _env(self) -> RunEnv:
        config = self.config
        return RunEnv(
            source=self.source, db=self.db, metrics=self.metrics,
            agent_info={"instance": self.instance, "version": __version__,
                        "shard": self._shard_label()},
            shard_index=config.shard.index, shard_count=config.shard.count,
            retention=config.state.retention, cancel=self._cancel, enqueue=self._enqueue,
        )

    def _enqueue(self, report: ChangeReport) -> None:
        queued = self.outbox.enqueue(report)
        if queued:
            log.info("report queued", extra={"run_id": report.run_id, "notifiers": queued,
                                             "status": report.status})
        if self._outbox_runner is not None:
            self._outbox_runner.wake()

    # ---- internals: set-up ----

    def _shard_label(self) -> str | None:
        shard = self.config.shard
        return f"{shard.index}/{shard.count}" if shard.count > 1 else None

    def _recover(self) -> dict[str, str | None]:
        """Runs a crash left `running` become interrupted; returns what to re-run."""
        cut = self.db.mark_interrupted_runs()
        rerun: dict[str, str | None] = {}
        for run in cut:
            log.warning("found a run the last agent process did not finish", extra={
                "run_id": run.id, "deployment": run.deployment, "trigger": run.trigger,
                "revision": (run.revision or "-")[:12], "status": "interrupted"})
            self.metrics.observe_run(run.deployment, run.trigger, "interrupted", {}, {})
            if self.config.deployment_named(run.deployment) is not None:
                rerun[run.deployment] = run.revision
        self.db.prune(self.config.state.retention)
        return rerun

    def _init_deployments(self, config: AgentConfig) -> None:
        names = {d.name for d in config.deployment}
        for name in list(self._slots):
            if name not in names:
                self._slots.pop(name).close()
        for deployment in config.deployment:
            name = deployment.name
            if name not in self._slots:
                self._slots[name] = DeploymentSlot(name, self._work)
            self.metrics.init_deployment(name)
            applied = self.db.last_applied(name)
            if applied:
                self.metrics.set_applied_revision(name, applied)
        self._refresh_suspended()

    def _refresh_suspended(self) -> None:
        suspended = set(self.db.suspended())
        for deployment in self.config.deployment:
            self.metrics.set_suspended(deployment.name, deployment.name in suspended)

    def _build_outbox(self, config: AgentConfig) -> Outbox:
        notifiers = []
        for spec in config.notify:
            try:
                sender = build_sender(spec, config.source.url)
            except ValueError as exc:
                raise AgentError(f"[[notify]] {spec.notifier}: {exc}") from None
            notifiers.append(Notifier(spec.notifier, spec.on, sender))
        # Capped at a minute: a receiver back after an hour gets its backlog within a minute.
        return Outbox(self.db, notifiers, metrics=self.metrics,
                      backoff=Backoff(base=2.0, factor=2.0, cap=60.0, jitter=0.2))

    def _replace_outbox(self, outbox: Outbox) -> Outbox:
        if self._outbox_runner is not None:
            self._outbox_runner.stop()
            self._outbox_runner = OutboxRunner(outbox, interval=self._outbox_interval)
            self._outbox_runner.start()
        return outbox

    def _build_http(self, config: AgentConfig) -> AgentHTTPServer:
        http = config.http
        try:
            return AgentHTTPServer(
                http.listen, self.metrics,
                token=http.token.get_secret_value() if http.token else None,
                webhook_secrets={p: http.webhook_secret_for(p) for p in WEBHOOK_PROVIDERS},
                ready=self.ready, runs=self.db, on_trigger=self.trigger,
                on_push=self.push_received,
            )
        except OSError as exc:
            raise AgentError(f"[http] listen = {http.listen!r}: cannot listen there: "
                             f"{exc.strerror or exc}; pick a free address") from None
