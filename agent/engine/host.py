"""The Host that deploy code and operations see through `host`, for one run.

It holds what belongs to this host in this run: its data, its connection, the operations its
deploy code queued, and while an operation executes, that operation's arguments and output.
The stages change that state only through the Host's own methods ("run state" below), so
what is set when, and undone when, can be read in one place.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from agent.engine.arguments import (
    ARGUMENTS_BY_NAME,
    COMMAND_ARGUMENTS,
    Config,
    merge_scope,
    pop_global_arguments,
    split_global_arguments,
)
from agent.engine.attempt import AttemptOutput, CommandFailed, record_sent, tail
from agent.engine.callsite import current_location
from agent.engine.command import StringCommand
from agent.engine.connectors.base import (
    CommandArgs,
    CommandOutput,
    CommandTimeout,
    ConnectError,
    ConnectionLost,
    Connector,
    ShellOutput,
    make_unix_command,
)
from agent.engine.errors import DeployError, HostFailure, refuse_unknown_attribute
from agent.engine.events import EngineWarning, Event
from agent.engine.fact import FactBase, FactError
from agent.engine.identity import IdentityTracker, OpId
from agent.engine.inventory import InventoryHost
from agent.engine.local_paths import confine
from agent.engine.masking import DIFF_SUPPRESSED, Masker
from agent.engine.pipeline import Deferred, DiscoveryStop, Exchange, FactRead, HostPipeline
from agent.vocab import Mode, Stage

if TYPE_CHECKING:
    from agent.engine.loader import DeployCode, DeployFile
    from agent.engine.operation import QueuedOp

T = TypeVar("T")
_MISSING: Any = object()


class RunMemo:
    """Values made once per run and shared by its hosts (`host.memo`), such as the template
    environments that keep each template compiled once per run instead of once per host."""

    def __init__(self) -> None:
        self._values: dict[Hashable, Any] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        with self._lock:
            if key not in self._values:
                self._values[key] = make()
            return self._values[key]  # type: ignore[no-any-return]


@dataclass
class RunContext:
    """What all hosts of one run share. One per run; never shared between runs."""

    mode: str  # apply | plan
    emit: Callable[[Event], None]
    code: DeployCode | None = None  # set in setup, once the deploy files are compiled
    config: Config = field(default_factory=Config)  # after config.py; copied per host
    hosts: list[Host] = field(default_factory=list)
    phase: Stage = Stage.SETUP
    cancelled: threading.Event = field(default_factory=threading.Event)
    memo: RunMemo = field(default_factory=RunMemo)

    @property
    def dry(self) -> bool:
        return self.mode == Mode.PLAN

    @property
    def user_files(self) -> frozenset[str]:
        """Files whose frames are the user's: deploy files, included files, helper modules."""
        return self.code.user_files if self.code is not None else frozenset()

    @property
    def inventory(self) -> RunInventory:
        return RunInventory(self.hosts)


class HostData:
    """`host.data.x`: the merged inventory data; a missing key reads as None, like pyinfra.

    `defaults` gives the `@deploy(data_defaults=...)` / `local.include(data=...)` layer in
    effect, which sits below every inventory layer.
    """

    def __init__(
        self, data: Mapping[str, Any], defaults: Callable[[], Mapping[str, Any]] = dict
    ) -> None:
        object.__setattr__(self, "_data", dict(data))
        object.__setattr__(self, "_defaults", defaults)

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        return self.get(key)

    def __setattr__(self, key: str, value: Any) -> None:
        self._data[key] = value

    def get(self, key: str, default: Any = None) -> Any:
        if key in self._data:
            return self._data[key]
        return self._defaults().get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._data or key in self._defaults()

    def __iter__(self) -> Iterator[str]:
        return iter(self.dict())

    def dict(self) -> dict[str, Any]:
        return {**self._defaults(), **self._data}

    def __repr__(self) -> str:
        return f"HostData({sorted(self._data)})"


@dataclass(frozen=True)
class DeployScope:
    """What an enclosing `@deploy`, `local.include`, `host.when` or `host.arguments` adds to
    the operations called inside it: a name prefix, global arguments and data defaults."""

    name: str = ""
    arguments: Mapping[str, Any] = field(default_factory=dict)
    data: Mapping[str, Any] = field(default_factory=dict)

    def nested(
        self, name: str, arguments: Mapping[str, Any], data: Mapping[str, Any]
    ) -> DeployScope:
        return DeployScope(
            name=" | ".join(part for part in (self.name, name) if part),
            arguments=merge_scope(self.arguments, arguments),
            data={**self.data, **data},
        )

    def operation_name(self, name: str) -> str:
        return f"{self.name} | {name}" if self.name else name


@dataclass
class OpExecution:
    """The operation running on this host right now, and what it has done so far."""

    args: dict[str, Any]
    deploy_dir: Path
    dry: bool
    deploy_data: Mapping[str, Any] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    diffs: list[str] = field(default_factory=list)
    output: AttemptOutput = field(default_factory=AttemptOutput)
    # Set while the generator runs only to learn which facts it reads (prefetch.py): a
    # read is answered from what is known, or stops the generator.
    discovery: Callable[[FactRead], CommandOutput] | None = None

    @functools.cached_property
    def command_args(self) -> CommandArgs:
        """The operation's arguments as its commands and fact reads take them."""
        return CommandArgs.from_globals(self.args)

    @property
    def stop_after_failure(self) -> bool:
        return not self.args.get("_continue_on_error")


def _fact_arguments(
    fact: FactBase[Any], positional: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """Name every argument of `host.get_fact(Fact, *args, **kwargs)` after `command()`'s
    parameters, so positional and keyword calls run the same command."""
    if not positional:
        return kwargs
    try:
        bound = inspect.signature(fact.command).bind(*positional, **kwargs)
    except TypeError as exc:
        raise TypeError(f"host.get_fact({type(fact).name}, ...): {exc}") from None
    named: dict[str, Any] = {}
    for parameter, value in bound.arguments.items():
        kind = bound.signature.parameters[parameter].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            named.update(value)
        elif kind is inspect.Parameter.VAR_POSITIONAL:
            raise TypeError(f"host.get_fact({type(fact).name}, ...): command() takes *{parameter}")
        else:
            named[parameter] = value
    return named


class RunInventory:
    """pyinfra's `inventory` as deploy code sees it: the hosts of this run, by name or group."""

    def __init__(self, hosts: list[Host]) -> None:
        self._hosts = list(hosts)

    def __iter__(self) -> Iterator[Host]:
        return iter(self._hosts)

    def __len__(self) -> int:
        return len(self._hosts)

    def __getattr__(self, name: str) -> Any:
        refuse_unknown_attribute(
            "inventory",
            name,
            "inventory.get_host(name), inventory.get_group(name), inventory.get_active_hosts(),"
            " len(inventory) and iterate over it",
        )

    def get_active_hosts(self) -> list[Host]:
        return list(self._hosts)

    def get_host(self, name: str, default: Any = _MISSING) -> Any:
        for host in self._hosts:
            if host.name == name:
                return host
        if default is _MISSING:
            raise DeployError(f"inventory has no host {name!r}", fix="check the host name")
        return default

    def get_group(self, name: str, default: Any = _MISSING) -> Any:
        members = [host for host in self._hosts if name in host.groups]
        if members:
            return members
        if default is _MISSING:
            groups = sorted({group for host in self._hosts for group in host.groups})
            raise DeployError(
                f"inventory has no group {name!r}", fix=f"use one of: {', '.join(groups)}"
            )
        return default


class Host:
    def __init__(
        self,
        spec: InventoryHost,
        connector: Connector,
        run: RunContext,
        mask: Masker | None = None,
    ) -> None:
        self.name = spec.name
        self.groups = list(spec.groups)
        self.data = HostData(spec.data, self._deploy_data)
        self.spec = spec
        self.connector = connector
        self.pipeline = HostPipeline(connector)
        self.run = run
        self.mask = mask if mask is not None else Masker(spec.secrets)
        self.identities = IdentityTracker()
        self.queued: list[QueuedOp] = []
        self._following: dict[int, QueuedOp | None] | None = None  # queued_after's answers
        self.current_file: DeployFile | None = None
        self.current: OpExecution | None = None
        self.scope = DeployScope()
        self.config = run.config.copy()

    def __repr__(self) -> str:
        return f"Host({self.name!r})"

    def __getattr__(self, name: str) -> Any:
        refuse_unknown_attribute(
            "host",
            name,
            "host.name, host.groups, host.data, host.host_data, host.group_data, host.get_fact,"
            " host.loop, host.when, host.arguments, host.noop, host.run_shell_command",
        )

    # -- deploy-code API -------------------------------------------------------------------

    @property
    def host_data(self) -> dict[str, Any]:
        """The host's own inventory data, without group data (pyinfra's `host.host_data`)."""
        return dict(self.spec.host_data)

    @property
    def group_data(self) -> dict[str, Any]:
        """The merged data of the host's groups, without its own (pyinfra's `group_data`)."""
        return dict(self.spec.group_data)

    def loop(self, iterable: Iterable[T]) -> Iterator[T]:
        """Iterate so that each iteration's operations have their own identity."""
        return self.identities.loop(iterable)

    @contextmanager
    def deploy(
        self,
        name: str,
        kwargs: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> Iterator[None]:
        """Operations inside get the name prefix, the global arguments and data defaults.

        Unlike pyinfra, an inner block adds to the outer one instead of replacing it, so a
        `host.when` nested in `host.arguments(_sudo=True)` keeps `_sudo`.
        """
        outer = self.scope
        self.scope = outer.nested(name, kwargs or {}, data or {})
        try:
            yield
        finally:
            self.scope = outer

    def when(self, condition: Callable[[], Any]) -> Any:
        """`with host.when(op.did_change):` every operation inside gets that `_if`."""
        if not callable(condition):
            raise TypeError(
                f"host.when needs a callable, got {condition!r}"
                " (pass op.did_change, not op.did_change())"
            )
        return self.deploy("", {"_if": [condition]})

    def arguments(self, **arguments: Any) -> Any:
        """`with host.arguments(_sudo=True):` global arguments for every operation inside."""
        unknown = sorted(set(arguments) - set(ARGUMENTS_BY_NAME))
        if unknown:
            raise TypeError(
                f"host.arguments got {', '.join(unknown)}, which are not global arguments"
            )
        return self.deploy("", split_global_arguments(dict(arguments)))

    def global_arguments(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Resolve (and pop) the global arguments of a call made from deploy code now."""
        return pop_global_arguments(kwargs, self.data.get, self.scope.arguments, self.config)

    def _deploy_data(self) -> Mapping[str, Any]:
        return self.current.deploy_data if self.current is not None else self.scope.data

    def get_fact(
        self, fact_cls: type[FactBase[T]], *fact_args: Any, **kwargs: Any
    ) -> T | None:
        """The fact's value on this host now: read in this operation's round trip, or kept
        from an earlier read while the host has not changed since (engine/pipeline.py).

        Positional arguments are the fact's `command()` parameters, as in pyinfra.
        """
        if not (isinstance(fact_cls, type) and issubclass(fact_cls, FactBase)):
            raise TypeError(f"host.get_fact needs a fact class, got {fact_cls!r}")
        self._warn_if_fact_is_stale(fact_cls)
        overrides = {k: kwargs.pop(k) for k in list(kwargs) if k in ARGUMENTS_BY_NAME}
        if self.current is not None:
            args = {**self.current.args, **overrides}
        else:
            args = self.global_arguments(overrides)
        fact = fact_cls()
        kwargs = _fact_arguments(fact, fact_args, kwargs)
        if fact.shell_executable:
            args = {**args, "_shell_executable": fact.shell_executable}
        if self.current is not None and args == self.current.args:
            command_args = self.current.command_args
        else:
            command_args = CommandArgs.from_globals(args)
        command = StringCommand(fact.full_command(**kwargs))
        read = FactRead(
            command,
            command_args,
            key=make_unix_command(command, command_args).get_raw_value(),
            immutable=fact_cls.immutable,
            cacheable=fact_cls.cacheable,
        )
        output = self._fact_output(read)
        if output.exit_code not in command_args.success_exit_codes:
            stderr = self.mask(tail(output.stderr))
            if args.get("_ignore_errors") or "unknown user" in stderr:
                return fact.default()
            raise HostFailure(
                f"fact {fact_cls.name} failed (exit code {output.exit_code})",
                command=self.mask(command.get_masked_value()),
                exit_code=output.exit_code,
                stderr_tail=stderr,
            )
        if not output.stdout:
            return fact.default()
        try:
            return fact.process(output.stdout)
        except FactError as exc:
            raise HostFailure(f"fact {fact_cls.name}: {self.mask(str(exc))}") from None

    def _fact_output(self, read: FactRead) -> CommandOutput:
        """Known, or read in one round trip with the commands waiting to be sent."""
        if self.current is not None and self.current.discovery is not None:
            return self.current.discovery(read)
        known = self.pipeline.known(read)
        if known is not None:
            return known
        return self._exchange([read]).reads[0]

    def _warn_if_fact_is_stale(self, fact_cls: type[FactBase[Any]]) -> None:
        if self.current is not None:  # an operation's own read, not deploy code's
            return
        if self.run.phase != Stage.PREPARE or not self.queued or fact_cls.immutable:
            return
        self.run.emit(
            EngineWarning(
                f"fact {fact_cls.name} is read while preparing, after operations were queued"
                " for this host; it shows the host before those operations run. Let an"
                " operation describe the state instead, or use _if=op.did_change",
                location=current_location(self.run.user_files),
                host=self.name,
            )
        )

    # -- operation API ---------------------------------------------------------------------

    def run_shell_command(
        self, command: str | StringCommand, print_output: bool = False,
        print_input: bool = False, **arguments: Any
    ) -> tuple[bool, ShellOutput]:
        """pyinfra's low-level call, for python.call callbacks: run a command on this host
        now, outside any operation's change tracking. `arguments` are the command global
        arguments (`_sudo=True`, `_env={...}`); the print flags are accepted and ignored,
        since the engine prints nothing. True when the exit code counts as success."""
        unknown = sorted(set(arguments) - COMMAND_ARGUMENTS)
        if unknown:
            raise DeployError(
                f"host.run_shell_command does not take {', '.join(unknown)}",
                fix=f"pass only command arguments: {', '.join(sorted(COMMAND_ARGUMENTS))}",
            )
        if isinstance(command, str):
            command = StringCommand(command)
        args = CommandArgs.from_globals(arguments)
        self._stop_discovery()
        self.send_commands()
        output = self.run_command(command, args)
        self.pipeline.host_changed()
        ok = output.exit_code in args.success_exit_codes
        return ok, ShellOutput(list(output.stdout), list(output.stderr))

    def noop(self, reason: str) -> None:
        if self.current is not None:
            self.current.reasons.append(self.mask(reason))

    def record_diff(self, path: str, before: str | None, after: str) -> None:
        if self.current is None:
            return
        if not self.current.args.get("_diff", True):
            # Said once, so a report still shows the operation had a diff to hide.
            if not self.current.diffs:
                self.current.diffs.append(DIFF_SUPPRESSED)
            return
        lines = difflib.unified_diff(
            (before or "").splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile="/dev/null" if before is None else f"a{path}",
            tofile=f"b{path}",
        )
        text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
        if text:
            self.current.diffs.append(self.mask(text))

    def local_roots(self) -> list[Path]:
        """Where relative local sources are looked for: pyinfra resolves them from the
        directory it runs in (our project root); the deploy file's own directory comes second,
        so a deploy kept beside its files also works."""
        roots: list[Path] = []
        if self.run.code is not None:
            roots.append(self.run.code.project_root)
        deploy_dir = self.current.deploy_dir if self.current else None
        if deploy_dir is None and self.current_file is not None:
            deploy_dir = self.current_file.directory
        if deploy_dir is not None and deploy_dir not in roots:
            roots.append(deploy_dir)
        return roots or [Path.cwd()]

    def local_path(self, src: str | PathLike[str], add_deploy_dir: bool = True) -> Path:
        """A local file an operation reads or writes. Relative, it is found from the roots
        above (with `add_deploy_dir=False`, from the working directory, as pyinfra takes it);
        either way it must resolve inside the run's root (EscapingPathError,
        local_paths.py), so that a committed symlink cannot reach the agent's own files."""
        path = Path(src)
        if not path.is_absolute() and add_deploy_dir:
            roots = self.local_roots()
            path = next((root / path for root in roots if (root / path).exists()),
                        roots[0] / path)
        if self.run.code is None:
            return path
        return confine(path, self.run.code.local_root)

    def memo(self, key: Hashable, make: Callable[[], T]) -> T:
        """The value for `key` in this run, made by `make()` on first use and then shared by
        every host of the run, so `make` must not depend on this host."""
        return self.run.memo.get(key, make)

    def get_file(self, remote_path: str) -> bytes | None:
        self._stop_discovery()
        self.send_commands()
        args = self.current.command_args if self.current else CommandArgs()
        try:
            return self.connector.get_file(remote_path, args)
        except FileNotFoundError:
            return None
        except ConnectionLost as exc:
            raise HostFailure(self.mask(str(exc))) from None

    # -- the connection, for an operation that takes the host down (server.reboot) --------

    def disconnect(self) -> None:
        """Close this host's connection in the middle of the run, as pyinfra's
        `host.disconnect()`: server.reboot drops it once the host is going down, so that
        nothing is left waiting on a dead connection. A connection that is already broken
        may fail to close cleanly; it is dropped all the same, so that is not an error."""
        self.pipeline.host_changed()  # a host that is reconnected to may have rebooted
        try:
            self.connector.disconnect()
        except Exception:
            return

    def reconnect(self) -> bool:
        """Open a new connection in place of the current one (which is closed first), as
        pyinfra's `host.connect()` after a disconnect: server.reboot's wait calls it until
        the rebooted host answers. False while the host cannot be reached (the connector's
        ConnectError), so the caller decides how long to keep trying; after True, every
        command, fact and upload goes through the new connection."""
        self.disconnect()
        try:
            self.connector.connect()
        except ConnectError:
            return False
        return True

    # -- run state: the stages change a Host only through these ----------------------------

    @contextmanager
    def running_file(self, deploy: DeployFile) -> Iterator[None]:
        """Deploy code runs for this host inside, as the code of `deploy`. Each deploy file
        starts from the run's config (after config.py), as in pyinfra, so a
        `config.SUDO = True` in one deploy file does not carry into the next."""
        self.current_file = deploy
        self.config = self.run.config.copy()
        try:
            yield
        finally:
            self.current_file = None

    @contextmanager
    def config_undone_after(self) -> Iterator[None]:
        """Config changes made inside (by a `local.include`d file) are undone on the way out."""
        saved = self.config.copy()
        try:
            yield
        finally:
            self.config = saved

    def next_op_id(self) -> OpId:
        """The identity of an operation the deploy code calls now: its call site, counted."""
        assert self.current_file is not None
        return self.identities.next_identity(self.current_file.index, self.run.user_files)

    def queue(self, queued: QueuedOp) -> None:
        self.queued.append(queued)
        self._following = None

    def queued_after(self, queued: QueuedOp) -> QueuedOp | None:
        """The operation this host runs after `queued`: the global order keeps each host's
        own order (order.py), so it is the next one this host queued. Asked once per
        operation at execute, so the answers are made once, not by a scan each time."""
        if self._following is None:
            last = len(self.queued) - 1
            self._following = {
                id(op): self.queued[i + 1] if i < last else None
                for i, op in enumerate(self.queued)
            }
        return self._following.get(id(queued))

    @contextmanager
    def executing(self, execution: OpExecution) -> Iterator[OpExecution]:
        """While inside, the operation API (`noop`, `record_diff`, `get_fact`...) records
        into `execution` and uses its arguments."""
        outer, self.current = self.current, execution
        try:
            yield execution
        finally:
            self.current = outer

    # -- engine side -----------------------------------------------------------------------

    def defer(self, command: StringCommand, shown: str) -> None:
        """Queue a changing command of the executing operation; it is sent with the next
        round trip (send_commands, or a fact read)."""
        assert self.current is not None
        self.pipeline.defer(
            Deferred(
                command,
                self.current.command_args,
                shown,
                position=len(self.current.commands) - 1,
            )
        )

    def send_commands(self, then_read: Sequence[FactRead] = ()) -> None:
        """Send the deferred commands, and `then_read` after them in the same round trip.

        A failed command is recorded on the executing operation; unless it continues on
        error, HostFailure stops its generator here, as a failure would have where the
        command was yielded.
        """
        if self.pipeline.pending or then_read:
            self._exchange(then_read)

    def _stop_discovery(self) -> None:
        if self.current is not None and self.current.discovery is not None:
            raise DiscoveryStop()

    def _exchange(self, reads: Sequence[FactRead]) -> Exchange:
        stop = self.current.stop_after_failure if self.current is not None else True
        try:
            exchange = self.pipeline.exchange(reads, stop)
        except CommandTimeout as exc:  # a read with `_timeout`, on a channel of its own
            raise HostFailure(f"command timed out: {exc}") from None
        except ConnectionLost as exc:
            raise HostFailure(self.mask(str(exc))) from None
        execution = self.current
        if exchange.commands and execution is not None:
            failure = record_sent(execution.output, execution.commands, exchange, self.mask)
            if failure is not None and execution.stop_after_failure:
                raise CommandFailed(failure)
        return exchange

    def run_command(self, command: StringCommand, args: CommandArgs) -> CommandOutput:
        """Run on the connection; a lost connection or a timeout stops the host."""
        try:
            return self.connector.run_shell_command(command, args)
        except CommandTimeout as exc:
            raise HostFailure(
                f"command timed out: {exc}", command=self.mask(command.get_masked_value())
            ) from None
        except ConnectionLost as exc:
            raise HostFailure(
                self.mask(str(exc)), command=self.mask(command.get_masked_value())
            ) from None
