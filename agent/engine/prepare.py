"""Prepare stage: run the deploy code once per host, then merge into one global order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agent.engine.arguments import EXECUTION_ARGUMENTS
from agent.engine.callsite import traceback_location
from agent.engine.context import bound_host
from agent.engine.errors import DeployError, HostFailure, UserError
from agent.engine.host import Host
from agent.engine.identity import OpId
from agent.engine.loader import DeployFile
from agent.engine.operation import QueuedOp
from agent.engine.order import merge_order
from agent.engine.prefetch import prefetch_queued


def prepare_host(host: Host, deploy_files: Sequence[DeployFile]) -> None:
    """Queue this host's operations, then read the facts they will need in a few round
    trips (prefetch.py); user mistakes become DeployError with file:line.

    Each deploy file starts from the run's config (see Host.running_file).
    """
    run = host.run
    assert run.code is not None
    with bound_host(host):
        for deploy in deploy_files:
            with host.running_file(deploy):
                try:
                    run.code.exec_deploy_file(deploy)
                except UserError as exc:
                    exc.what = host.mask(exc.what)  # `raise DeployError(f"... {password}")`
                    exc.args = (exc.what,)
                    if exc.where is None:
                        exc.where = traceback_location(exc.__traceback__, run.user_files)
                    raise
                except HostFailure:
                    raise
                except Exception as exc:
                    raise DeployError(
                        f"{type(exc).__name__}: {host.mask(str(exc))}",
                        where=traceback_location(exc.__traceback__, run.user_files)
                        or deploy.path,
                        fix="correct the deploy code",
                    ) from exc
        prefetch_queued(host, host.queued)


@dataclass
class PlannedOp:
    """One operation of the global order, with the hosts that queued it (inventory order)."""

    op_id: OpId
    name: str
    entries: list[tuple[Host, QueuedOp]]
    global_args: dict[str, object]

    @property
    def host_names(self) -> tuple[str, ...]:
        return tuple(host.name for host, _ in self.entries)


def plan_operations(hosts: Sequence[Host]) -> list[PlannedOp]:
    """The global order over all hosts, with each op's per-host entries."""
    by_id: dict[OpId, list[tuple[Host, QueuedOp]]] = {}
    for host in hosts:
        for queued in host.queued:
            by_id.setdefault(queued.op_id, []).append((host, queued))

    def describe(op_id: OpId) -> str:
        _, first = by_id[op_id][0]
        return f"{first.name} ({first.location or 'unknown location'})"

    order = merge_order(([q.op_id for q in h.queued] for h in hosts), describe)
    planned = []
    for op_id in order:
        entries = by_id[op_id]
        _check_execution_arguments(entries)
        names = list(dict.fromkeys(queued.name for _, queued in entries))
        planned.append(PlannedOp(op_id, ", ".join(names), entries, entries[0][1].global_args))
    return planned


def _check_execution_arguments(entries: list[tuple[Host, QueuedOp]]) -> None:
    first_host, first = entries[0]
    for host, queued in entries[1:]:
        for key in EXECUTION_ARGUMENTS:
            if queued.global_args[key] != first.global_args[key]:
                raise DeployError(
                    f"operation {first.name!r} has {key}={first.global_args[key]!r} on"
                    f" {first_host.name} but {key}={queued.global_args[key]!r} on {host.name}",
                    where=queued.location,
                    fix=f"{key} decides how the operation is scheduled across hosts, so it"
                    " must be the same on every host",
                )
