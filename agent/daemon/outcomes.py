"""Every way a run ends goes through `Outcomes.finish`: one place writes the state, the
metrics, the `run finished` log line and the report, in that order (the state DB is the
truth; metrics and reports follow from it).

The endings (docs/architecture.md, "run lifecycle"): finished by the engine, failed before
any host was touched (a deploy that does not load, a checkout that fails), refused (a
force-pushed or unverified head), interrupted (shutdown), recovered after a crash (the
row a dead process left `running`), and superseded (a commit overtaken before it ran).

While the state DB cannot be written (a full disk), an ending's steps wait, in order, and
are done once it can (`retry_held`, at every look at a deployment): a run that finished is
then recorded and reported, rather than left `running` with its report lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from agent.config import RetentionConfig
from agent.metrics import Metrics
from agent.report.model import ChangeReport
from agent.state import RunRow, StateDB, StateError
from agent.vocab import FAILED_STATUSES, TROUBLE_STATUSES, Mode, RunStatus, Trigger

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ending:
    """How one run ended."""

    run_id: int
    deployment: str
    trigger: Trigger
    mode: Mode
    revision: str | None
    status: RunStatus
    report: ChangeReport | None = None
    """What is stored and posted (a drift report lists only the hosts that drifted)."""
    observed: ChangeReport | None = None
    """What metrics see: every host of the run (defaults to `report`)."""
    error: str | None = None
    recorded: bool = False
    """The run row already holds this status (a crash's row marked at start-up, a
    superseded commit's row): it is not written again."""
    superseded_by: str | None = None
    attempt: bool = True
    """A failed run counts as an attempt of its commit, which is then retried with backoff;
    a refused head does not (it is never run at all)."""


class Outcomes:
    """The funnel; one per agent, shared by its workers."""

    def __init__(self, db: StateDB, metrics: Metrics, enqueue: Callable[[ChangeReport], None],
                 retention: Callable[[], RetentionConfig]) -> None:
        self.db = db
        self.metrics = metrics
        self.enqueue = enqueue
        self.retention = retention
        self._lock = threading.Lock()
        self._held: list[Callable[[], None]] = []

    def finish(self, ending: Ending) -> None:
        steps = [partial(self._record, ending), partial(self._observe, ending),
                 partial(self._log, ending)]
        if not ending.recorded:  # a row written elsewhere is pruned with the run around it
            steps.append(self._prune)
        with self._lock:
            self._held += steps
            error = self._do_held()
        if error is not None:
            log.error("run ended but not recorded yet: the state DB cannot be written; it is "
                      "recorded once it can", extra={"run_id": ending.run_id,
                                                    "deployment": ending.deployment,
                                                    "status": ending.status, "error": error})

    def retry_held(self) -> bool:
        """Record the endings that waited for the state DB, if it takes writes again; False
        while some still wait."""
        with self._lock:
            if not self._held:
                return True
            if self._do_held() is not None:
                return False
        log.info("the state DB takes writes again: the run endings that waited are recorded")
        return True

    def _do_held(self) -> str | None:
        """Do the waiting steps in order; the error that stopped them, if one did."""
        while self._held:
            try:
                self._held[0]()
            except StateError as exc:
                return str(exc)
            except Exception:
                self._held.pop(0)  # a bug, not the disk: raised as before, not retried
                raise
            self._held.pop(0)
        return None

    def recover_crashed(self) -> list[RunRow]:
        """The runs a dead agent process left `running`: ended as interrupted, returned so
        that their deployments run their commits again."""
        cut = self.db.mark_interrupted_runs()
        for run in cut:
            log.warning("found a run the last agent process did not finish", extra={
                "run_id": run.id, "deployment": run.deployment, "trigger": run.trigger,
                "revision": (run.revision or "-")[:12], "status": RunStatus.INTERRUPTED})
            self.finish(_interrupted(run, recorded=True))
        self._prune()
        return cut

    def interrupt_running(self, reason: str) -> None:
        """Shutdown ran out of grace: the runs still going end as interrupted now."""
        for run in self.db.list_runs(status=RunStatus.RUNNING, limit=100):
            self.finish(_interrupted(run, recorded=False, error=reason))

    def _prune(self) -> None:
        try:
            self.db.prune(self.retention())
        except Exception:
            log.exception("pruning the run history failed")

    def _record(self, e: Ending) -> None:
        """The run's row, what its commit is now and its queued report, in one transaction:
        an agent killed in between would lose the report, or run a finished commit again."""
        with self.db.atomically():
            self._record_state(e)
            if e.report is not None:
                self.enqueue(e.report)

    def _record_state(self, e: Ending) -> None:
        if not e.recorded:
            report = e.report.to_dict() if e.report is not None else None
            stages = dict(e.report.stages) if e.report is not None else {}
            self.db.finish_run(e.run_id, e.status, report, stages, error=e.error)
        if e.revision is None or e.status in (RunStatus.SUPERSEDED, RunStatus.INTERRUPTED):
            return
        if e.status not in FAILED_STATUSES:
            self.db.set_applied(e.deployment, e.revision)
            self.metrics.set_applied_revision(e.deployment, e.revision)
            self.metrics.set_rollout_halted(e.deployment, False)
        elif e.attempt:
            halted = _rollout_halted(e.report)
            attempts = self.db.record_attempt(e.deployment, e.revision,
                                              e.error or _first_error(e.report), halted=halted)
            self.metrics.set_rollout_halted(e.deployment, halted)
            log.info("rollout halted: the commit waits for a new commit, a manual trigger or "
                     "a rollback" if halted else "commit will be retried with backoff", extra={
                         "deployment": e.deployment, "revision": e.revision[:12],
                         "attempts": attempts})

    def _observe(self, e: Ending) -> None:
        if e.status == RunStatus.SUPERSEDED:
            return  # it never ran: no run to count
        observed = e.observed or e.report
        if observed is not None:
            self.metrics.observe_report(observed)
        else:
            self.metrics.observe_run(e.deployment, e.trigger, e.status, {}, {})

    def _log(self, e: Ending) -> None:
        fields = {"run_id": e.run_id, "deployment": e.deployment, "trigger": e.trigger,
                  "mode": e.mode, "revision": (e.revision or "-")[:12], "status": e.status}
        if e.superseded_by:
            fields["superseded_by"] = e.superseded_by[:12]
        if e.report is not None:
            summary = e.report.summary
            fields.update({
                "duration_seconds": round(e.report.duration_seconds, 3),
                "hosts_changed": summary.hosts.changed,
                "hosts_failed": summary.hosts.failed + summary.hosts.unreachable,
                "operations_changed": summary.operations.changed})
        if e.error:
            fields["error"] = e.error
        level = logging.WARNING if e.status in TROUBLE_STATUSES else logging.INFO
        log.log(level, "run finished", extra=fields)


def _interrupted(run: RunRow, *, recorded: bool, error: str | None = None) -> Ending:
    return Ending(run.id, run.deployment, Trigger(run.trigger), Mode(run.mode), run.revision,
                  RunStatus.INTERRUPTED, error=error or run.error, recorded=recorded)


def _rollout_halted(report: ChangeReport | None) -> bool:
    """A halted rollout waits instead of being retried (docs/rollout.md)."""
    return report is not None and report.rollout is not None and report.rollout.halted


def _first_error(report: ChangeReport | None) -> str:
    for host in report.hosts if report is not None else ():
        if host.error:
            return f"{host.name}: {host.error}"
    return f"run {report.status if report is not None else 'failed'}"
