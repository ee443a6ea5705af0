"""Every Prometheus metric pullinfra exposes, defined once (contract: docs/architecture.md).

A `Metrics` object owns its own `CollectorRegistry` instead of using prometheus_client's
process-global default, so two agents (or two tests) in one process never share series.

Label values are checked against closed sets: an unknown value is a programming error that
would otherwise create an unbounded series, so it raises `ValueError` instead.

Usage, by the daemon::

    m = Metrics(version="0.1.0")
    m.init_deployment("web")                 # all its series exist at 0 from the start
    m.init_notifier("ops-hook")
    m.observe_fetch("success", 0.42, now=time.time())
    m.set_source_revision("3f2a...")
    with m.run_in_progress("web"):
        ...
    m.observe_report(change_report)          # or observe_run(...) with the parts
    m.set_applied_revision("web", sha)
    body = m.exposition()                    # what GET /metrics serves
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import Metric

from agent import __version__, vocab

if TYPE_CHECKING:
    from agent.report.model import ChangeReport

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""Our names are plain ASCII, so the body is the classic 0.0.4 text format, which every
Prometheus (Debian 12 ships 2.42) understands; the 1.0.0 type would be no different here."""

_SUCCEEDED = frozenset({vocab.HostStatus.CHANGED, vocab.HostStatus.UNCHANGED})

FETCH_RESULTS = ("success", "failure", "rejected")
"""`rejected`: fetched, but refused (non-fast-forward, failed signature check)."""
TRIGGERS = vocab.TRIGGERS
RUN_RESULTS = vocab.REPORT_STATUSES
"""The ChangeReport statuses; a run's result is its report's status."""
STAGES = vocab.STAGES
OPERATION_STATUSES: tuple[str, ...] = tuple(vocab.OpStatus)
NOTIFICATION_RESULTS = ("success", "retry", "dropped")
"""`retry`: a retryable failure, the report stays queued; `dropped`: the receiver refused it
for good (see agent/report/errors.py), the report leaves the queue."""
WEBHOOK_PROVIDERS = ("github", "gitlab", "gitea")
WEBHOOK_RESULTS = ("accepted", "ignored", "unauthorized", "bad_request", "replayed")
"""`replayed`: verified, but its delivery id was seen lately; nothing was fetched."""
RATE_LIMITED_ENDPOINTS = ("trigger", "webhook")
"""`trigger`: POST /api/trigger; `webhook`: POST /hooks/PROVIDER."""
WAVE_RESULTS: tuple[str, ...] = tuple(vocab.WaveStatus)
"""How a rollout wave ended (docs/rollout.md)."""

# Fetches take from milliseconds (local file://) to minutes (a cold clone over SSH).
FETCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
# A stage lasts from milliseconds (setup) to tens of minutes (apt upgrades on a big fleet).
STAGE_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


@dataclass(frozen=True)
class HostOutcome:
    """One host's result in a run, as the per-host gauges need it."""

    name: str
    up: bool
    drift_operations: int = 0
    succeeded_at: float | None = None
    """Unix time of the host's successful finish; None when it failed or was unreachable."""
    operations: Mapping[str, int] | None = None
    """The host's operations in this run by status; None leaves its gauges as they were."""


def _check(kind: str, value: str, allowed: Iterable[str]) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {kind} {value!r}; expected one of {sorted(allowed)}")
    return value


@dataclass(frozen=True)
class _Family:
    """One metric family: the attribute of Metrics that holds it, and how it is created."""

    attr: str
    kind: type[Counter] | type[Gauge] | type[Histogram]
    name: str
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] | None = None

    def create(self, registry: CollectorRegistry) -> Counter | Gauge | Histogram:
        extra = {"buckets": self.buckets} if self.buckets is not None else {}
        return self.kind(self.name, self.help, list(self.labels), registry=registry, **extra)


# Every metric of the contract (docs/architecture.md), defined once.
FAMILIES: tuple[_Family, ...] = (
    _Family("build_info", Gauge, "pullinfra_build_info",
            "pullinfra build; always 1.", ("version",)),
    _Family("source_fetch", Counter, "pullinfra_source_fetch_total",
            "Git fetches of the source, by result.", ("result",)),
    _Family("source_fetch_duration", Histogram, "pullinfra_source_fetch_duration_seconds",
            "Duration of git fetches of the source.", (), FETCH_BUCKETS),
    _Family("source_last_fetch_success", Gauge,
            "pullinfra_source_last_fetch_success_timestamp_seconds",
            "Unix time of the last successful fetch; 0 until the first one."),
    _Family("source_revision", Gauge, "pullinfra_source_revision_info",
            "The commit the source ref points at after the last good fetch; always 1.",
            ("revision",)),
    _Family("source_verification_failures", Counter,
            "pullinfra_source_verification_failures_total",
            "Fetched commits refused because their signature did not verify."),
    _Family("run", Counter, "pullinfra_run_total",
            "Finished runs, by deployment, trigger and result.",
            ("deployment", "trigger", "result")),
    _Family("run_duration", Histogram, "pullinfra_run_duration_seconds",
            "Duration of each stage of a run.", ("deployment", "stage"), STAGE_BUCKETS),
    _Family("last_run_success", Gauge, "pullinfra_last_run_success_timestamp_seconds",
            "Unix time of the last run that did not fail; 0 until the first one.", ("deployment",)),
    _Family("applied_revision", Gauge, "pullinfra_applied_revision_info",
            "The commit last applied to the deployment; always 1.", ("deployment", "revision")),
    _Family("run_in_progress_gauge", Gauge, "pullinfra_run_in_progress",
            "1 while a run of the deployment is going on.", ("deployment",)),
    _Family("deployment_suspended", Gauge, "pullinfra_deployment_suspended",
            "1 while the deployment is suspended.", ("deployment",)),
    _Family("deployment_window_open", Gauge, "pullinfra_deployment_window_open",
            "1 while the deployment's sync windows let new commits apply (always, without "
            "windows); 0 while a new commit would wait.", ("deployment",)),
    _Family("operations", Counter, "pullinfra_operations_total",
            "Operation results on hosts, by deployment and status.", ("deployment", "status")),
    _Family("host_up", Gauge, "pullinfra_host_up",
            "1 if the host was reachable in the deployment's last run.", ("deployment", "host")),
    _Family("host_drift_operations", Gauge, "pullinfra_host_drift_operations",
            "Operations that found drift on the host in the deployment's last reconcile.",
            ("deployment", "host")),
    _Family("host_last_success", Gauge, "pullinfra_host_last_success_timestamp_seconds",
            "Unix time of the host's last successful run in the deployment.",
            ("deployment", "host")),
    _Family("host_operations", Gauge, "pullinfra_host_operations",
            "Operations of the host in the deployment's last run, by status.",
            ("deployment", "host", "status")),
    _Family("notifications", Counter, "pullinfra_notifications_total",
            "Report delivery attempts, by notifier and result.", ("notifier", "result")),
    _Family("notification_queue_depth", Gauge, "pullinfra_notification_queue_depth",
            "Reports waiting in the outbox."),
    _Family("webhook_requests", Counter, "pullinfra_webhook_requests_total",
            "Push webhook requests, by provider and result.", ("provider", "result")),
    _Family("http_rate_limited", Counter, "pullinfra_http_rate_limited_total",
            "Requests answered 429 because their source address sent too many, by endpoint.",
            ("endpoint",)),
    _Family("rollout_halted", Gauge, "pullinfra_rollout_halted",
            "1 while the deployment's last rollout is halted: its commit waits for a new "
            "commit, a manual trigger or a rollback.", ("deployment",)),
    _Family("rollout_waves", Counter, "pullinfra_rollout_waves_total",
            "Rollout waves, by deployment and how they ended.", ("deployment", "result")),
)


class Metrics:
    """The agent's metrics, on a registry of their own."""

    build_info: Gauge
    source_fetch: Counter
    source_fetch_duration: Histogram
    source_last_fetch_success: Gauge
    source_revision: Gauge
    source_verification_failures: Counter
    run: Counter
    run_duration: Histogram
    last_run_success: Gauge
    applied_revision: Gauge
    run_in_progress_gauge: Gauge
    deployment_suspended: Gauge
    deployment_window_open: Gauge
    operations: Counter
    host_up: Gauge
    host_drift_operations: Gauge
    host_last_success: Gauge
    host_operations: Gauge
    notifications: Counter
    notification_queue_depth: Gauge
    webhook_requests: Counter
    http_rate_limited: Counter
    rollout_halted: Gauge
    rollout_waves: Counter

    def __init__(self, version: str = __version__, registry: CollectorRegistry | None = None):
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self._lock = threading.Lock()
        self._source_revision: str | None = None
        self._applied: dict[str, str] = {}
        self._hosts: dict[str, set[str]] = {}

        for family in FAMILIES:
            setattr(self, family.attr, family.create(r))
        self.build_info.labels(version=version).set(1)
        # Source-level series without labels exist from construction; labelled source and
        # fetch series are created here because their label sets are closed.
        for result in FETCH_RESULTS:
            self.source_fetch.labels(result=result)
        for endpoint in RATE_LIMITED_ENDPOINTS:
            self.http_rate_limited.labels(endpoint=endpoint)

    # ---- initialisation to zero: alerts must never point at a missing series ----

    def init_deployment(
        self,
        name: str,
        triggers: Iterable[str] = TRIGGERS,
        results: Iterable[str] = RUN_RESULTS,
    ) -> None:
        """Create every series of a deployment at 0, before its first run."""
        for trigger in triggers:
            _check("trigger", trigger, TRIGGERS)
            for result in results:
                _check("run result", result, RUN_RESULTS)
                self.run.labels(deployment=name, trigger=trigger, result=result)
        for stage in STAGES:
            self.run_duration.labels(deployment=name, stage=stage)
        for status in OPERATION_STATUSES:
            self.operations.labels(deployment=name, status=status)
        self.last_run_success.labels(deployment=name)
        self.run_in_progress_gauge.labels(deployment=name).set(0)
        self.deployment_suspended.labels(deployment=name)
        self.deployment_window_open.labels(deployment=name).set(1)
        self.rollout_halted.labels(deployment=name)
        for result in WAVE_RESULTS:
            self.rollout_waves.labels(deployment=name, result=result)

    def init_host(self, deployment: str, host: str) -> None:
        """Create a known host's series at 0, before the host is first reached."""
        self.host_up.labels(deployment=deployment, host=host)
        self.host_drift_operations.labels(deployment=deployment, host=host)
        self.host_last_success.labels(deployment=deployment, host=host)
        for status in OPERATION_STATUSES:
            self.host_operations.labels(deployment=deployment, host=host, status=status)

    def set_hosts(self, deployment: str, hosts: Iterable[str]) -> None:
        """The deployment's inventory as of this run: new hosts start at 0, and hosts that
        left it lose their series instead of reporting stale values forever."""
        current = set(hosts)
        with self._lock:
            gone = self._hosts.get(deployment, set()) - current
            self._hosts[deployment] = current
        for host in gone:
            self.forget_host(deployment, host)
        for host in current:
            self.init_host(deployment, host)

    def forget_host(self, deployment: str, host: str) -> None:
        """Drop the series of a host that left the inventory, so it does not linger forever."""
        for gauge in (self.host_up, self.host_drift_operations, self.host_last_success):
            with contextlib.suppress(KeyError):
                gauge.remove(deployment, host)
        for status in OPERATION_STATUSES:
            with contextlib.suppress(KeyError):
                self.host_operations.remove(deployment, host, status)

    def init_notifier(self, name: str) -> None:
        for result in NOTIFICATION_RESULTS:
            self.notifications.labels(notifier=name, result=result)

    def init_webhook_provider(self, provider: str) -> None:
        _check("webhook provider", provider, WEBHOOK_PROVIDERS)
        for result in WEBHOOK_RESULTS:
            self.webhook_requests.labels(provider=provider, result=result)

    # ---- source ----

    def observe_fetch(self, result: str, seconds: float, now: float | None = None) -> None:
        """Count one fetch; `now` (unix time) marks a successful one as the last success."""
        self.source_fetch.labels(result=_check("fetch result", result, FETCH_RESULTS)).inc()
        self.source_fetch_duration.observe(seconds)
        if result == "success" and now is not None:
            self.source_last_fetch_success.set(now)

    def count_verification_failure(self) -> None:
        self.source_verification_failures.inc()

    def set_source_revision(self, sha: str) -> None:
        """Point the source revision at `sha`; the previous revision's series disappears."""
        with self._lock:
            if self._source_revision not in (None, sha):
                with contextlib.suppress(KeyError):
                    self.source_revision.remove(self._source_revision)
            self._source_revision = sha
            self.source_revision.labels(revision=sha).set(1)

    # ---- runs ----

    @contextlib.contextmanager
    def run_in_progress(self, deployment: str) -> Iterator[None]:
        """Hold pullinfra_run_in_progress at 1 for the duration of the block."""
        gauge = self.run_in_progress_gauge.labels(deployment=deployment)
        gauge.set(1)
        try:
            yield
        finally:
            gauge.set(0)

    def set_suspended(self, deployment: str, suspended: bool) -> None:
        self.deployment_suspended.labels(deployment=deployment).set(1 if suspended else 0)

    def set_window_open(self, deployment: str, is_open: bool) -> None:
        self.deployment_window_open.labels(deployment=deployment).set(1 if is_open else 0)

    def set_rollout_halted(self, deployment: str, halted: bool) -> None:
        self.rollout_halted.labels(deployment=deployment).set(1 if halted else 0)

    def set_applied_revision(self, deployment: str, sha: str) -> None:
        """Mark `sha` as applied; the deployment's previous revision series disappears."""
        with self._lock:
            old = self._applied.get(deployment)
            if old is not None and old != sha:
                with contextlib.suppress(KeyError):
                    self.applied_revision.remove(deployment, old)
            self._applied[deployment] = sha
            self.applied_revision.labels(deployment=deployment, revision=sha).set(1)

    def observe_run(
        self,
        deployment: str,
        trigger: str,
        result: str,
        stage_seconds: Mapping[str, float],
        ops_by_status: Mapping[str, int],
        hosts: Iterable[HostOutcome] = (),
        finished_at: float | None = None,
        reconcile: bool | None = None,
    ) -> None:
        """Record one finished run.

        `finished_at` (unix time) sets the last-success timestamp when the run did not fail
        (`result` not in failed/partial/interrupted). `reconcile=True` means the run was a drift
        check, so each host's drift gauge is set from its `drift_operations`; other runs leave
        the drift gauges alone, because a new commit's changes are not drift. It defaults to
        `trigger == "reconcile"`.
        """
        if reconcile is None:
            reconcile = trigger == vocab.Trigger.RECONCILE
        self.run.labels(
            deployment=deployment,
            trigger=_check("trigger", trigger, TRIGGERS),
            result=_check("run result", result, RUN_RESULTS),
        ).inc()
        for stage, seconds in stage_seconds.items():
            _check("stage", stage, STAGES)
            self.run_duration.labels(deployment=deployment, stage=stage).observe(seconds)
        for status, count in ops_by_status.items():
            _check("operation status", status, OPERATION_STATUSES)
            if count:
                self.operations.labels(deployment=deployment, status=status).inc(count)
        if finished_at is not None and result not in vocab.TROUBLE_STATUSES:
            self.last_run_success.labels(deployment=deployment).set(finished_at)
        for host in hosts:
            self.host_up.labels(deployment=deployment, host=host.name).set(1 if host.up else 0)
            if reconcile:
                self.host_drift_operations.labels(deployment=deployment, host=host.name).set(
                    host.drift_operations
                )
            if host.succeeded_at is not None:
                self.host_last_success.labels(deployment=deployment, host=host.name).set(
                    host.succeeded_at
                )
            if host.operations is not None:
                for status in OPERATION_STATUSES:
                    self.host_operations.labels(
                        deployment=deployment, host=host.name, status=status,
                    ).set(host.operations.get(status, 0))

    def observe_report(self, report: ChangeReport, finished_at: float | None = None) -> None:
        """`observe_run` from a finished run's ChangeReport (what the daemon has at hand).

        `finished_at` defaults to the report's own finish time. Drift per host is the number
        of operations a reconcile run found changed on it.
        """
        done = finished_at if finished_at is not None else report.finished_at.timestamp()
        ops: dict[str, int] = dict.fromkeys(OPERATION_STATUSES, 0)
        hosts = []
        for host in report.hosts:
            host_ops: dict[str, int] = dict.fromkeys(OPERATION_STATUSES, 0)
            for op in host.operations:
                ops[op.status] += 1
                host_ops[op.status] += 1
            hosts.append(HostOutcome(
                name=host.name,
                up=host.status != vocab.HostStatus.UNREACHABLE,
                drift_operations=sum(op.status == vocab.OpStatus.CHANGED
                                     for op in host.operations),
                succeeded_at=done if host.status in _SUCCEEDED else None,
                operations=host_ops,
            ))
        self.observe_run(
            report.deployment or "", report.trigger, report.status, dict(report.stages), ops,
            hosts=hosts, finished_at=done,
        )
        for wave in report.rollout.waves if report.rollout is not None else ():
            self.rollout_waves.labels(
                deployment=report.deployment or "",
                result=_check("wave result", wave.status, WAVE_RESULTS)).inc()

    # ---- notifications and webhooks ----

    def count_notification(self, notifier: str, result: str) -> None:
        _check("notification result", result, NOTIFICATION_RESULTS)
        self.notifications.labels(notifier=notifier, result=result).inc()

    def set_queue_depth(self, depth: int) -> None:
        self.notification_queue_depth.set(depth)

    def count_webhook(self, provider: str, result: str) -> None:
        """Count one webhook request; an unknown provider is counted under no series."""
        _check("webhook provider", provider, WEBHOOK_PROVIDERS)
        _check("webhook result", result, WEBHOOK_RESULTS)
        self.webhook_requests.labels(provider=provider, result=result).inc()

    def count_rate_limited(self, endpoint: str) -> None:
        """Count one 429; by endpoint only, as a label per address would be unbounded."""
        _check("rate-limited endpoint", endpoint, RATE_LIMITED_ENDPOINTS)
        self.http_rate_limited.labels(endpoint=endpoint).inc()

    # ---- exposition ----

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format (what GET /metrics serves)."""
        return generate_latest(_WithoutCreated(self.registry))


class _WithoutCreated:
    """A view of a registry without the `*_created` samples prometheus_client adds.

    They would be extra metric families outside the contract (and in the text format a gauge
    per counter); switching them off with `disable_created_metrics()` would flip a
    process-wide switch instead.
    """

    def __init__(self, registry: CollectorRegistry):
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        for family in self._registry.collect():
            family.samples = [s for s in family.samples if not s.name.endswith("_created")]
            yield family
