"""`@operation`, the queued operation, and OperationMeta (what deploy code gets back).

Calling an operation in deploy code does not run it: it queues it for the current host with
its call-site identity. It runs later, at execute time, against live facts. That is why its
result (`did_change()`) cannot be read during prepare, and why `_if` exists.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.engine.arguments import split_global_arguments
from agent.engine.callsite import current_location
from agent.engine.context import current_host
from agent.engine.errors import DeployError, PrepareTimeResultError
from agent.engine.identity import OpId
from agent.engine.local_paths import EscapingPathError
from agent.engine.naming import module_label
from agent.vocab import OpStatus, Stage

if TYPE_CHECKING:
    from agent.engine.host import Host, RunContext
    from agent.engine.result import OpHostResult


# The arguments of an operation that name local files (`("src",)`), or a function of the
# call's arguments (defaults applied) that returns them, for those local only sometimes.
LocalPaths = Sequence[str] | Callable[[Mapping[str, Any]], Iterable[str]]


@dataclass(frozen=True)
class OperationDefinition:
    function: Callable[..., Any]
    full_name: str  # module.function, e.g. files.directory
    is_idempotent: bool
    local_paths: LocalPaths = ()


class OperationMeta:
    """One operation on one host, as deploy code sees it."""

    def __init__(self, run: RunContext, name: str, host_name: str, location: str | None) -> None:
        self._run = run
        self.name = name
        self.host_name = host_name
        self.location = location
        self.result: OpHostResult | None = None

    def __repr__(self) -> str:
        status = self.result.status if self.result else "pending"
        return f"OperationMeta({self.name!r}, host={self.host_name!r}, {status})"

    def _completed(self, what: str) -> OpHostResult:
        if self._run.phase == Stage.PREPARE:
            raise PrepareTimeResultError(
                f"`{what}` of operation {self.name!r} is read while the deploy is being"
                " prepared, before any operation has run, so it would always be False",
                fix="make the dependent operation conditional with `_if=<op>.did_change`"
                " (or _if=any_changed(a, b) / all_changed(a, b)); _if is checked at execute"
                " time",
            )
        if self.result is None:
            raise RuntimeError(
                f"operation {self.name!r} has not run yet on {self.host_name};"
                " an _if may only refer to operations that come before it"
            )
        return self.result

    def did_change(self) -> bool:
        return self._completed("did_change()").status == OpStatus.CHANGED

    def did_not_change(self) -> bool:
        return self._completed("did_not_change()").status != OpStatus.CHANGED

    def did_succeed(self) -> bool:
        return self._completed("did_succeed()").status != OpStatus.FAILED

    def did_error(self) -> bool:
        return self._completed("did_error()").status == OpStatus.FAILED

    @property
    def changed(self) -> bool:
        return self._completed(".changed").status == OpStatus.CHANGED

    @property
    def executed(self) -> bool:
        return self.result is not None and self.result.status != OpStatus.SKIPPED


def any_changed(*metas: OperationMeta) -> Callable[[], bool]:
    """`_if=any_changed(a, b)`: run when at least one of them changed, checked at execute."""
    return lambda: any(meta.did_change() for meta in metas)


def all_changed(*metas: OperationMeta) -> Callable[[], bool]:
    """`_if=all_changed(a, b)`: run when every one of them changed, checked at execute."""
    return lambda: all(meta.did_change() for meta in metas)


@dataclass
class QueuedOp:
    """An operation call recorded for one host during prepare."""

    op_id: OpId
    name: str
    definition: OperationDefinition
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    global_args: dict[str, Any]
    meta: OperationMeta
    deploy_dir: Path
    location: str | None
    deploy_data: Mapping[str, Any] = field(default_factory=dict)  # @deploy data_defaults


def operation(
    func: Callable[..., Any] | None = None,
    *,
    is_idempotent: bool = True,
    local_paths: LocalPaths = (),
    **_ignored: Any,
) -> Any:
    """Make a generator function an operation: `@operation()` or `@operation`.

    `local_paths` names the arguments that are files on this machine, so that a call whose
    file would leave the run's root is refused at prepare (`_check_local_paths`)."""

    def decorate(function: Callable[..., Any]) -> Callable[..., OperationMeta]:
        module = module_label(function.__module__)
        name = function.__name__
        full_name = name if module.startswith("__") else f"{module}.{name}"
        definition = OperationDefinition(function, full_name, is_idempotent, local_paths)

        @functools.wraps(function)
        def queue(*args: Any, **kwargs: Any) -> OperationMeta:
            return queue_operation(current_host(), definition, args, kwargs)

        queue._inner = function  # type: ignore[attr-defined]
        queue.definition = definition  # type: ignore[attr-defined]
        return queue

    return decorate(func) if func is not None else decorate


def deploy(
    name: str | Callable[..., Any] | None = None, data_defaults: Mapping[str, Any] | None = None
) -> Any:
    """`@deploy("Name", data_defaults={...})`: a function grouping operations, as pyinfra's.

    Its operations are named `Name | <op name>`; global arguments passed to the call
    (`install(_sudo=True)`) apply to them; `data_defaults` is the lowest data layer inside it.
    A bare `@deploy` (pyinfra 3 refuses it) is taken as `@deploy()`.
    """

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        deploy_name = name if isinstance(name, str) and name else function.__name__

        @functools.wraps(function)
        def grouped(*args: Any, **kwargs: Any) -> Any:
            arguments = split_global_arguments(kwargs)
            with current_host().deploy(deploy_name, arguments, data_defaults or {}):
                return function(*args, **kwargs)

        grouped._inner = function  # type: ignore[attr-defined]
        grouped.deploy_name = deploy_name  # type: ignore[attr-defined]
        return grouped

    return decorate(name) if callable(name) else decorate


def queue_operation(
    host: Host, definition: OperationDefinition, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> OperationMeta:
    run = host.run
    location = current_location(run.user_files)
    if run.phase != Stage.PREPARE or host.current_file is None:
        raise DeployError(
            f"operation {definition.full_name} was called while operations execute",
            where=location,
            fix="call operations from deploy code; inside an operation use"
            " `yield from other_op._inner(...)`",
        )
    kwargs = dict(kwargs)
    try:
        global_args = host.global_arguments(kwargs)
        bound = inspect.signature(definition.function).bind(*args, **kwargs)
    except TypeError as exc:
        raise DeployError(
            f"{definition.full_name}: {exc}",
            where=location,
            fix="check the operation's arguments",
        ) from None
    _check_local_paths(host, definition, bound, location)
    op_id = host.next_op_id()
    # A name built from host data may hold a secret; names reach logs, reports and events.
    name = host.mask(host.scope.operation_name(str(global_args["name"] or definition.full_name)))
    meta = OperationMeta(run, name, host.name, location)
    host.queue(
        QueuedOp(
            op_id=op_id,
            name=name,
            definition=definition,
            args=args,
            kwargs=kwargs,
            global_args=global_args,
            meta=meta,
            deploy_dir=host.current_file.directory,
            location=location,
            deploy_data=host.scope.data,
        )
    )
    return meta


def _path_values(value: Any) -> list[str | os.PathLike[str]]:
    """The file names in an argument: a path, or a list of them (server.user's key files);
    anything else (a file-like, bytes) names no file."""
    values = value if isinstance(value, list | tuple) else [value]
    return [item for item in values if isinstance(item, str | os.PathLike)]


def _check_local_paths(
    host: Host, definition: OperationDefinition, bound: inspect.BoundArguments,
    location: str | None,
) -> None:
    """A local file the call names must resolve inside the run's root (local_paths.py).

    Checked here, as the call is queued, so the run stops at prepare with the call's
    file:line before any host is touched; `host.local_path` checks again when the
    operation opens the file. `add_deploy_dir=False` (pyinfra's convention) takes a relative
    path from the working directory instead of the deploy's.
    """
    if not definition.local_paths:
        return
    bound.apply_defaults()
    arguments = bound.arguments
    spec = definition.local_paths
    names = spec(arguments) if callable(spec) else spec
    from_deploy = arguments.get("add_deploy_dir", True) is not False
    for name in names:
        for value in _path_values(arguments.get(name)):
            try:
                host.local_path(value, from_deploy)
            except EscapingPathError as exc:
                raise DeployError(
                    f"{definition.full_name}: {name}={os.fspath(value)!r}: {exc}",
                    where=location,
                    fix="keep local files inside the repository; a symlink in it may point"
                    " only to a file in it",
                ) from None
            except ValueError:  # no valid file name (a NUL): the operation says so
                continue
