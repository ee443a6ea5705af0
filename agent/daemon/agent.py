"""The agent's lifecycle: start, serve, reload, stop, and the doors triggers come in by
(timers, HTTP, webhooks). Its parts each have one job (docs/architecture.md):

- the source watcher fetches and backs off (agent/daemon/watcher.py);
- each deployment's slot runs one worker at a time (agent/daemon/deployments.py);
- the worker gathers facts, asks the pure policy, and runs (agent/daemon/worker.py);
- every ending goes through the outcome funnel (agent/daemon/outcomes.py).

Everything lives on the `Agent` object (no process globals), so tests can run two agents in
one process.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from agent import __version__
from agent.backoff import Backoff
from agent.config import AgentConfig
from agent.daemon import windows
from agent.daemon.delivery import ReportDelivery
from agent.daemon.deployments import DeploymentSlot, Request, Slots, SubmitResult
from agent.daemon.host_keys import host_key_policy
from agent.daemon.outcomes import Ending, Outcomes
from agent.daemon.parts import AgentError, build_http, build_outbox
from agent.daemon.rollback import rollback_target
from agent.daemon.runner import RunEnv
from agent.daemon.scheduler import Jobs
from agent.daemon.watcher import SourceWatcher
from agent.daemon.worker import Worker
from agent.http import AgentHTTPServer, PushEvent
from agent.http.webhooks import PreviewEvent
from agent.metrics import Metrics
from agent.preview.service import Previews
from agent.refusals import DeploymentSuspended, ShuttingDown, UnknownDeployment, WindowClosed
from agent.report.outbox import Outbox
from agent.source import GitSource
from agent.state import StateDB
from agent.vocab import TROUBLE_STATUSES, Trigger

log = logging.getLogger(__name__)

__all__ = ["Agent", "AgentError"]


class Agent:
    """One GitOps agent: a source, its deployments, their history, metrics and reports."""

    def __init__(self, config: AgentConfig, *, once: bool = False,
                 retry_backoff: Backoff | None = None,
                 fetch_backoff: Backoff | None = None,
                 outbox_interval: float = 1.0,
                 clock: Callable[[], float] = time.time) -> None:
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
        poll = config.source.poll_interval
        self.watcher = SourceWatcher(
            GitSource(config.source, self.state_dir), self.db, self.metrics,
            fetch_backoff or Backoff(base=min(max(poll, 1.0), 5.0), cap=max(300.0, poll),
                                     jitter=0.1),
            baseline=self._baseline)
        self._cancel = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.RLock()
        self._slots = Slots(self._work)
        self.delivery = ReportDelivery(build_outbox(config, self.db, self.metrics), outbox_interval)
        self.http: AgentHTTPServer | None = None
        self.outcomes = Outcomes(self.db, self.metrics, self.delivery.enqueue,
                                 retention=lambda: self.config.state.retention)
        self.worker = Worker(
            config=lambda: self.config, head=lambda: self.watcher.head, env=self._env,
            outcomes=self.outcomes, once=once, clock=clock,
            retry_backoff=retry_backoff or Backoff(base=max(5.0, 2 * poll),
                                                   cap=max(1800.0, 2 * poll), jitter=0.0))
        # Previews (docs/previews.md) take a slot of their own: one at a time, plan mode only,
        # never a run of a deployment, so they neither wait for runs nor hold them up.
        self.previews = Previews(
            config=lambda: self.config, source=lambda: self.source,
            branch_head=lambda: self.watcher.head.revision if self.watcher.head else None,
            db=self.db, state_dir=self.state_dir, cancel=self._cancel,
            host_keys=lambda: lambda checkout: host_key_policy(self.config.ssh,
                                                               self.state_dir, checkout))
        self._preview_slot = DeploymentSlot("preview", lambda _name, _request: self._preview())
        self._jobs = Jobs(self.poll, self.reconcile)
        self._init_deployments(config)

    @property
    def source(self) -> GitSource:
        return self.watcher.source

    @property
    def outbox(self) -> Outbox:
        return self.delivery.outbox

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    # ---- lifecycle ----

    def start(self) -> None:
        """Recover from a crash, serve HTTP, start delivery and the timers."""
        rerun = self._recover()
        self.http = self._http(self.config)
        self.http.start()
        self.delivery.start()
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
        self._fetch(Trigger.POLL)
        endings: list[Ending] = []
        for deployment in self.config.deployment:
            kind = Trigger.RETRY if deployment.name in rerun else Trigger.POLL
            ending = self.worker.work(deployment.name, Request(kind))
            if ending is not None:
                endings.append(ending)
        self.outbox.deliver_pending()
        troubled = [e for e in endings if e.status in TROUBLE_STATUSES]
        log.info("once: done", extra={"runs": len(endings), "failed": len(troubled),
                                      "pending_reports": self.db.outbox_depth()})
        self.db.close()
        return 1 if troubled or self.watcher.last_failed else 0

    def stop(self, grace: float | None = None) -> bool:
        """Stop scheduling, let runs reach the end of their operation (at most `grace`
        seconds), record cut runs as interrupted, deliver what can be delivered.

        Returns False when a run was still going after the grace period (its engine threads
        may still hold a host; the caller should exit without waiting for them).
        """
        grace = self.config.shutdown_grace if grace is None else grace
        self._stopping.set()
        self._jobs.stop()
        running = self._slots.close()
        self._preview_slot.close()
        self._cancel.set()
        if running:
            log.info("stopping: waiting for runs to finish their operation",
                     extra={"deployments": running, "grace_seconds": grace})
        clean = self._slots.wait_stopped(grace)
        self._preview_slot.wait_idle(grace)
        if not clean:
            self.outcomes.interrupt_running("the agent stopped: shutdown_grace ran out mid-run")
        self.delivery.stop(grace)
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
        outbox = build_outbox(config, self.db, self.metrics) if config.notify != old.notify \
            else None
        with self._lock:
            if config.source != old.source:
                self.watcher.replace_source(GitSource(config.source, self.state_dir))
            if outbox is not None:
                self.delivery.replace(outbox)
            self.config = config
            self._init_deployments(config)
        if config.http != old.http and self.http is not None:
            self.http.stop()
            self.http = self._http(config)
            self.http.start()
        self._jobs.configure(config)
        log.info("config reloaded", extra={
            "deployments": [d.name for d in config.deployment],
            "poll_interval": config.source.poll_interval,
            "reconcile_interval": config.reconcile.interval})
        self.poll(Trigger.POLL)

    def problems(self) -> list[str]:
        """What keeps the agent from doing its job right now; empty when healthy. The main
        loop pings systemd's watchdog only while this is empty, and /healthz answers 503."""
        found = []
        if not self._jobs.alive:
            found.append("the scheduler has stopped firing polls and reconciles")
        if self.http is None or not self.http.serving:
            found.append("the HTTP server is not serving")
        if not self.delivery.alive:
            found.append("report delivery has stopped")
        unwritable = self.db.write_problem()  # runs can be neither recorded nor started
        if unwritable is not None:
            found.append(unwritable)
        return found

    def status_line(self) -> str:
        """One line for `systemctl status`: what each deployment has applied, and the head."""
        applied = []
        for deployment in self.config.deployment:
            revision = self.db.last_applied(deployment.name)
            applied.append(f"{deployment.name} {revision[:12] if revision else 'none yet'}")
        head = self.watcher.head
        return (f"applied: {', '.join(applied) or 'no deployments'}; "
                f"source: {head.revision[:12] if head else 'not fetched yet'}")

    def ready(self) -> tuple[bool, str]:
        if self.watcher.fetched_once:
            return True, "ok"
        return False, "waiting for the first successful fetch of the source"

    # ---- triggers (timers, HTTP, webhooks) ----

    def poll(self, kind: Trigger = Trigger.POLL) -> None:
        """Fetch (unless backing off) and let each deployment decide whether it must run."""
        if self.stopping:
            return
        self._refresh_suspended()
        if kind == Trigger.POLL and self.watcher.backing_off():
            self._submit_all(Request(Trigger.POLL))  # due retries of failed commits still run
            return
        self._fetch(kind)
        self._submit_all(Request(kind))
        if self.config.preview.enabled:
            self._preview_slot.submit(Request(kind))

    def reconcile(self) -> None:
        if self.stopping:
            return
        self._refresh_suspended()
        self._submit_all(Request(Trigger.RECONCILE))

    def trigger(self, deployment: str | None, override_window: str | None = None
                ) -> Mapping[str, Any]:
        """`POST /api/trigger` and `pullinfra trigger`: fetch now, then run (again). Outside
        its sync windows a named deployment is refused unless `override_window` gives the
        operator's reason (recorded on the run)."""
        names = [d.name for d in self.config.deployment]
        if deployment is None:
            if self.stopping:
                raise ShuttingDown("the agent is shutting down")
        else:
            self._runnable(deployment)
            self._window_check(deployment, override_window)
            names = [deployment]
        log.info("trigger received", extra={"deployments": names})
        threading.Thread(target=self._manual, args=(names, override_window),
                         name="pullinfra-trigger", daemon=True).start()
        return {"deployments": names}

    def rollback(self, deployment: str, to: str | None = None) -> Mapping[str, Any]:
        """`POST /api/rollback` and `pullinfra rollback`: apply the last good commit (or
        `to`) as a run with trigger `rollback`, whatever the sync windows say, and keep the
        deployment there until a new commit (agent/daemon/rollback.py)."""
        self._runnable(deployment)
        head = self.watcher.head.revision if self.watcher.head else self.source.accepted
        target = rollback_target(self.db, self.source, deployment, to, head)
        log.info("rollback requested", extra={"deployment": deployment,
                                               "revision": target[:12]})
        self.submit(deployment, Request(Trigger.ROLLBACK, target))
        return {"deployments": [deployment], "revision": target}

    def push_received(self, event: PushEvent | PreviewEvent) -> bool:
        """A verified push webhook: fetch at once (on its own thread, not the request's). A
        request webhook goes to the previews; False when they are off."""
        if isinstance(event, PreviewEvent):
            log.info("request webhook received", extra={
                "provider": event.provider, "request": event.number,
                "revision": event.head[:12], "fork": event.fork})
            taken = not self.stopping and self.previews.received(event)
            if taken:
                self._preview_slot.submit(Request(Trigger.WEBHOOK))
            return taken
        log.info("push webhook received", extra={
            "provider": event.provider, "ref": event.ref or "-",
            "revision": (event.revision or "-")[:12], "delivery": event.delivery or "-"})
        threading.Thread(target=self.poll, args=(Trigger.WEBHOOK,), name="pullinfra-webhook",
                         daemon=True).start()
        return True

    def _runnable(self, deployment: str) -> None:
        """Refuse a request for a deployment that cannot run now (agent.refusals)."""
        if self.stopping:
            raise ShuttingDown("the agent is shutting down")
        names = [d.name for d in self.config.deployment]
        if deployment not in names:
            raise UnknownDeployment(f"no deployment {deployment!r}; configured: "
                                    f"{', '.join(names) or 'none'}")
        if self.db.is_suspended(deployment):
            raise DeploymentSuspended(f"deployment {deployment!r} is suspended; run "
                                      f"`pullinfra resume {deployment}` first")

    def _window_check(self, deployment: str, override_window: str | None) -> None:
        config = self.config.deployment_named(deployment)
        closed = windows.check(config.windows if config else [], self.worker.now())
        if closed is None:
            return
        if override_window is None:
            raise WindowClosed(
                f"deployment {deployment!r} is outside its sync windows ({closed.reason}); "
                "to run it now, give a reason: `pullinfra trigger "
                f"{deployment} --override-window --reason TEXT`")
        log.warning("sync windows overridden by a manual trigger", extra={
            "deployment": deployment, "reason": override_window, "window": closed.reason})

    def submit(self, name: str, request: Request) -> SubmitResult:
        return self._slots.submit(name, request)

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Tests: wait until no deployment is running or queued."""
        deadline = time.monotonic() + timeout
        while not self._slots.idle():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    # ---- internals ----

    def _fetch(self, trigger: Trigger) -> None:
        refused = self.watcher.fetch(trigger)
        if refused is not None:
            self.worker.refuse(refused)

    def _baseline(self) -> str | None:
        """The force-push baseline when the clone lost its own (a deleted clone)."""
        states = [self.db.applied_state(d.name) for d in self.config.deployment]
        applied = [s for s in states if s and s.revision and s.applied_at]
        return max(applied, key=lambda s: s.applied_at or 0).revision if applied else None

    def _submit_all(self, request: Request) -> None:
        if self.watcher.head is None and request.kind not in (
                Trigger.RECONCILE, Trigger.MANUAL, Trigger.RETRY):
            return
        for deployment in self.config.deployment:
            self.submit(deployment.name, request)

    def _manual(self, names: list[str], override_window: str | None = None) -> None:
        self._fetch(Trigger.MANUAL)
        for name in names:
            self.submit(name, Request(Trigger.MANUAL, override_window=override_window))

    def _rerun_interrupted(self, rerun: Mapping[str, str | None]) -> None:
        self._fetch(Trigger.POLL)
        for name, revision in rerun.items():
            log.info("re-running a run the last agent process did not finish",
                     extra={"deployment": name, "revision": (revision or "-")[:12]})
            self.submit(name, Request(Trigger.RETRY, revision))

    def _preview(self) -> None:
        if not self.stopping:
            self.previews.work()

    def _work(self, name: str, request: Request) -> None:
        """A slot's worker: decide, then run (one at a time per deployment)."""
        if not self.stopping:
            self.worker.work(name, request)

    def _http(self, config: AgentConfig) -> AgentHTTPServer:
        return build_http(config, self.metrics, self.db, ready=self.ready,
                          problems=self.problems, trigger=self.trigger, push=self.push_received,
                          rollback=self.rollback)

    def _env(self) -> RunEnv:
        config = self.config
        return RunEnv(
            source=self.source, db=self.db, metrics=self.metrics,
            agent_info={"instance": self.instance, "version": __version__,
                        "shard": self._shard_label()},
            shard_index=config.shard.index, shard_count=config.shard.count,
            cancel=self._cancel, ssh=config.ssh, state_dir=self.state_dir)

    def _shard_label(self) -> str | None:
        shard = self.config.shard
        return f"{shard.index}/{shard.count}" if shard.count > 1 else None

    def _recover(self) -> dict[str, str | None]:
        """Runs a crash left `running` become interrupted; {deployment: revision} to re-run.

        A cut run of a new commit names it, so that the re-run is dropped if another run
        applies that commit first (policy.py); a cut re-run of the applied commit (a
        reconcile, a manual run) names none, and runs again whatever is applied."""
        cut = self.outcomes.recover_crashed()
        return {run.deployment: None if run.revision == self.db.last_applied(run.deployment)
                else run.revision
                for run in cut if self.config.deployment_named(run.deployment) is not None}

    def _init_deployments(self, config: AgentConfig) -> None:
        self._slots.sync(d.name for d in config.deployment)
        for deployment in config.deployment:
            name = deployment.name
            self.metrics.init_deployment(name)
            row = self.db.applied_state(name)
            if row is not None and row.revision:
                self.metrics.set_applied_revision(name, row.revision)
            self.metrics.set_rollout_halted(name, row is not None and row.halted_revision
                                            is not None)
        self._refresh_suspended()

    def _refresh_suspended(self) -> None:
        suspended = set(self.db.suspended())
        for deployment in self.config.deployment:
            self.metrics.set_suspended(deployment.name, deployment.name in suspended)

