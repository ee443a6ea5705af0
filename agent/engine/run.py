"""run_deploy: the five stages (setup, connect, prepare, execute, disconnect) as one call.

Everything a run needs lives in objects created here and dropped at the end (the thread pool,
the RunContext, the Hosts), so several runs can go at once in one process.
"""

from __future__ import annotations

import functools
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.engine.connectors.base import ConnectError, Connector
from agent.engine.connectors.host_keys import PYINFRA, HostKeyPolicy
from agent.engine.connectors.key_files import KeyFiles
from agent.engine.connectors.local import LocalConnector
from agent.engine.connectors.ssh import SSHConnector
from agent.engine.errors import HostFailure
from agent.engine.events import (
    Event,
    EventCallback,
    HostConnected,
    HostFailed,
    HostPrepared,
    HostUnreachable,
    OperationFinished,
    OperationHostResult,
    OperationStarted,
    OrderReady,
    Progress,
    RunAborted,
    RunFinished,
    StageFinished,
    StageStarted,
)
from agent.engine.execute import run_op_on_host, skipped
from agent.engine.host import Host, RunContext
from agent.engine.imports import Importer
from agent.engine.inventory import Inventory, InventoryHost, load_inventory
from agent.engine.loader import DeployCode, DeployFile, compile_deploy_files
from agent.engine.local_paths import default_root
from agent.engine.masking import Masker
from agent.engine.operation import QueuedOp
from agent.engine.prepare import PlannedOp, plan_operations, prepare_host
from agent.engine.result import HostResult, OperationSummary, OpHostResult, RunResult
from agent.vocab import HostStatus, Mode, OpStatus, RunStatus, Stage

DEFAULT_PARALLEL = 50


@dataclass
class RunOptions:
    mode: Mode = Mode.APPLY  # plan: commands collected, not executed
    parallel: int | None = None  # hosts at once; default min(50, number of hosts)
    fail_percent: float | None = None  # abort when more than this % of hosts failed
    data: Mapping[str, Any] | None = None  # --data overrides, when inventory is a path
    limit: Sequence[str] | None = None  # --limit, when inventory is a path
    run_id: str | None = None
    cancel: threading.Event | None = None  # set it to stop between operations
    connector_factory: Callable[[InventoryHost], Connector] | None = None
    # Where pyinfra's working directory would be: config.py, local.include paths and
    # repository modules are found here. Default: the inventory file's directory.
    project_root: str | os.PathLike[str] | None = None
    # Every local file the run reads or writes (deploy and inventory files, files.put's
    # sources...) must resolve inside this (local_paths.py): the exported commit in the
    # agent. Default: local_paths.default_root of the inventory's and deploy files' folders.
    local_root: str | os.PathLike[str] | None = None
    # Owns the names user code imports that are not real modules (agent.compat's maps
    # `pyinfra...`); the engine alone maps none. Also used for the inventory, when a path.
    importer: Importer | None = None
    # Host keys where a host's data says nothing: pyinfra's rules unless an unattended
    # caller asks for stricter ones (connectors/host_keys.py).
    host_keys: HostKeyPolicy = PYINFRA


def default_connector(
    spec: InventoryHost, key_files: KeyFiles | None = None, host_keys: HostKeyPolicy = PYINFRA
) -> Connector:
    """`key_files` lets a run's SSH connectors share the known_hosts and keys they read."""
    if spec.connector == "local":
        return LocalConnector()
    return SSHConnector(spec.name, spec.data, key_files, host_keys)


class _Emitter:
    """Calls the user's callback one event at a time; a failing callback never breaks a run."""

    def __init__(self, callback: EventCallback | None) -> None:
        self.callback = callback
        self.lock = threading.Lock()
        self.errors: list[str] = []

    def __call__(self, event: Event) -> None:
        if self.callback is None:
            return
        with self.lock:
            try:
                self.callback(event)
            except Exception as exc:
                self.errors.append(f"{type(event).__name__}: {type(exc).__name__}: {exc}")


class _Run:
    def __init__(self, options: RunOptions, on_event: EventCallback | None) -> None:
        self.options = options
        self.fail_percent = options.fail_percent
        self.emit = _Emitter(on_event)
        self.context = RunContext(mode=options.mode, emit=self.emit)
        if options.cancel is not None:
            self.context.cancelled = options.cancel
        self.result = RunResult(
            run_id=options.run_id or uuid.uuid4().hex,
            mode=options.mode,
            started_at=datetime.now(UTC),
        )
        self.hosts: list[Host] = []
        self.host_results: dict[str, HostResult] = {}
        self.stopped: dict[str, str] = {}  # host -> why it stopped (unreachable or failed)
        self.pool: ThreadPoolExecutor | None = None

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.context.phase = name
        self.emit(StageStarted(name))
        started = time.monotonic()
        try:
            yield
        finally:
            duration = time.monotonic() - started
            self.result.stages[name] = duration
            self.emit(StageFinished(name, duration))

    def _map(self, function: Callable[[Host], Any], hosts: Sequence[Host]) -> dict[str, Any]:
        """Run per host in the pool; return each host's value or the exception it raised."""
        assert self.pool is not None
        futures: dict[Future[Any], Host] = {self.pool.submit(function, h): h for h in hosts}
        outcomes: dict[str, Any] = {}
        for future in as_completed(futures):
            host = futures[future]
            try:
                outcomes[host.name] = future.result()
            except Exception as exc:
                outcomes[host.name] = exc
        return outcomes

    def active(self) -> list[Host]:
        return [h for h in self.hosts if h.name not in self.stopped]

    # -- stages ----------------------------------------------------------------------------

    def setup(self, inventory: Inventory | str | os.PathLike[str], deploy_files: Sequence[Any]):
        root = self._local_root(inventory, deploy_files)
        if not isinstance(inventory, Inventory):
            inventory = load_inventory(
                inventory, self.options.data, self.options.limit, self.options.importer, root
            )
        deploys = compile_deploy_files(deploy_files, root)
        code = DeployCode(
            deploys, self._project_root(inventory, deploys), self.options.importer, root
        )
        self.context.code = code
        code.load_config_file(self.context.config)
        if self.fail_percent is None:
            self.fail_percent = self.context.config.FAIL_PERCENT
        factory = self.options.connector_factory or functools.partial(
            default_connector, key_files=KeyFiles(), host_keys=self.options.host_keys
        )
        mask = Masker(inventory.secrets)  # one for all hosts (Inventory.secrets says why)
        self.hosts = [Host(spec, factory(spec), self.context, mask) for spec in inventory.hosts]
        self.context.hosts = self.hosts
        self.host_results = {h.name: HostResult(h.name) for h in self.hosts}
        self.result.hosts = list(self.host_results.values())
        parallel = self.options.parallel or min(DEFAULT_PARALLEL, len(self.hosts))
        self.pool = ThreadPoolExecutor(
            max_workers=max(1, parallel), thread_name_prefix=f"pullinfra-{self.result.run_id[:8]}"
        )
        return deploys

    def _local_root(
        self, inventory: Inventory | str | os.PathLike[str], deploy_files: Sequence[Any]
    ) -> Path:
        if self.options.local_root is not None:
            return Path(self.options.local_root)
        given = inventory.path if isinstance(inventory, Inventory) else inventory
        files = [*([given] if given else []), *deploy_files]
        folders = [os.path.dirname(os.path.abspath(f)) for f in files]
        if self.options.project_root is not None:
            folders.append(os.fspath(self.options.project_root))
        return default_root(folders)

    def _project_root(self, inventory: Inventory, deploys: Sequence[DeployFile]) -> Path:
        if self.options.project_root is not None:
            return Path(self.options.project_root)
        if inventory.path:
            return Path(inventory.path).parent
        return deploys[0].directory

    def connect(self) -> None:
        outcomes = self._map(lambda h: h.connector.connect(), self.hosts)
        for host in self.hosts:
            outcome = outcomes[host.name]
            if outcome is None:
                self.emit(HostConnected(host.name))
                continue
            if isinstance(outcome, ConnectError):
                message = host.mask(str(outcome))
            else:
                message = host.mask(f"{type(outcome).__name__}: {outcome}")
            self.stopped[host.name] = message
            self.host_results[host.name].status = HostStatus.UNREACHABLE
            self.host_results[host.name].error = message
            self.emit(HostUnreachable(host.name, message))

    def prepare(self, deploys: Sequence[Any]) -> list[PlannedOp]:
        hosts = self.active()
        outcomes = self._map(lambda h: prepare_host(h, deploys), hosts)
        for host in hosts:  # inventory order, so the reported error does not depend on timing
            outcome = outcomes[host.name]
            if isinstance(outcome, Exception) and not isinstance(outcome, HostFailure):
                raise outcome  # a DeployError, or an engine bug
        for host in hosts:
            outcome = outcomes[host.name]
            if isinstance(outcome, HostFailure):
                self._stop(host, str(outcome))
                self.emit(HostFailed(host.name, str(outcome)))
            else:
                self.emit(HostPrepared(host.name, len(host.queued)))
        planned = plan_operations(self.active())
        self.result.operations = [OperationSummary(p.name, p.host_names) for p in planned]
        self.emit(OrderReady(tuple((p.name, p.host_names) for p in planned)))
        return planned

    def execute(self, planned: list[PlannedOp]) -> None:
        total = len(planned)
        for index, op in enumerate(planned, 1):
            if self.context.cancelled.is_set():
                self._abort(RunStatus.INTERRUPTED)
                return
            entries = [(h, q) for h, q in op.entries if h.name not in self.stopped]
            if not entries:
                continue
            self.emit(OperationStarted(index, total, op.name, tuple(h.name for h, _ in entries)))
            if op.global_args["_run_once"]:
                reason = f"_run_once: ran on {entries[0][0].name}"
                for host, queued in entries[1:]:
                    self._record(index, host, skipped(queued, reason))
                entries = entries[:1]
            self._run_entries(index, total, op, entries)
            self.emit(OperationFinished(index, total, op.name))
            if self._over_fail_percent():
                self._abort(
                    f"{len(self.stopped)} of {len(self.hosts)} hosts failed, more than"
                    f" --fail-percent {self.fail_percent}"
                )
                return

    def _run_entries(
        self, index: int, total: int, op: PlannedOp, entries: list[tuple[Host, QueuedOp]]
    ) -> None:
        assert self.pool is not None
        size = len(entries)
        if op.global_args["_serial"]:
            size = 1
        elif op.global_args["_parallel"]:
            size = max(1, int(op.global_args["_parallel"]))  # type: ignore[call-overload]
        done = 0
        for start in range(0, len(entries), size):
            batch = entries[start : start + size]
            futures = {self.pool.submit(run_op_on_host, h, q, index): h for h, q in batch}
            for future in as_completed(futures):
                host = futures[future]
                try:
                    outcome = future.result()
                except Exception as exc:  # an engine bug; keep it to this host
                    outcome = OpHostResult(op.name, OpStatus.FAILED,
                                           error=f"internal error: {exc!r}")
                done += 1
                self._record(index, host, outcome)
                self.emit(Progress(index, total, done, len(entries)))

    def _record(self, index: int, host: Host, outcome: OpHostResult) -> None:
        outcome.index = index
        self.host_results[host.name].operations.append(outcome)
        if outcome.host_stopped:
            self._stop(host, outcome.error or "operation failed")
        self.emit(OperationHostResult(index, host.name, outcome))

    def _stop(self, host: Host, error: str) -> None:
        self.stopped[host.name] = error
        self.host_results[host.name].status = HostStatus.FAILED
        self.host_results[host.name].error = error

    def _over_fail_percent(self) -> bool:
        limit = self.fail_percent
        if limit is None or not self.hosts:
            return False
        return len(self.stopped) * 100 / len(self.hosts) > limit

    def _abort(self, reason: str) -> None:
        self.result.aborted = reason
        self.emit(RunAborted(reason))

    def disconnect(self) -> None:
        connected = [h for h in self.hosts
                     if self.host_results[h.name].status != HostStatus.UNREACHABLE]
        if self.pool is not None:
            self._map(lambda h: h.connector.disconnect(), connected)

    def finish(self) -> None:
        for host in self.hosts:
            record = self.host_results[host.name]
            if record.status in (HostStatus.FAILED, HostStatus.UNREACHABLE):
                continue
            changed = any(op.status == OpStatus.CHANGED for op in record.operations)
            record.status = HostStatus.CHANGED if changed else HostStatus.UNCHANGED
        self.result.finished_at = datetime.now(UTC)
        self.result.callback_errors = self.emit.errors


def run_deploy(
    inventory: Inventory | str | os.PathLike[str],
    deploy_files: Sequence[str | os.PathLike[str]],
    options: RunOptions | None = None,
    on_event: EventCallback | None = None,
) -> RunResult:
    """Run the five stages. User mistakes raise UserError (after disconnecting), host
    failures are results."""
    run = _Run(options or RunOptions(), on_event)
    try:
        with run.stage(Stage.SETUP):
            deploys = run.setup(inventory, deploy_files)
        with run.stage(Stage.CONNECT):
            run.connect()
        with run.stage(Stage.PREPARE):
            planned = run.prepare(deploys)
        with run.stage(Stage.EXECUTE):
            run.execute(planned)
    finally:
        if run.pool is not None:
            with run.stage(Stage.DISCONNECT):
                run.disconnect()
            run.pool.shutdown(wait=True)
        run.context.phase = "done"
    run.finish()
    run.emit(RunFinished(run.result))
    return run.result
