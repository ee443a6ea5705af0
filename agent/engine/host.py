"""The Host that deploy code and operations see through `host`, for one run.

It holds what belongs to this host in this run: its data, its connection, the operations its
deploy code queued, and while an operation executes, that operation's arguments and output.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from agent.engine.arguments import ARGUMENTS_BY_NAME, default_arguments
from agent.engine.callsite import current_location
from agent.engine.command import StringCommand
from agent.engine.connectors.base import (
    CommandArgs,
    CommandOutput,
    CommandTimeout,
    ConnectionLost,
    Connector,
)
from agent.engine.errors import HostFailure
from agent.engine.events import EngineWarning, Event
from agent.engine.facts.base import FactBase, FactError
from agent.engine.identity import IdentityTracker
from agent.engine.inventory import InventoryHost
from agent.engine.masking import Masker
from agent.engine.result import STDERR_TAIL_LINES

if TYPE_CHECKING:
    from agent.engine.loader import DeployFile
    from agent.engine.operation import QueuedOp

T = TypeVar("T")


@dataclass
class RunContext:
    """What all hosts of one run share. One per run; never shared between runs."""

    mode: str  # apply | plan
    user_files: frozenset[str]
    emit: Callable[[Event], None]
    phase: str = "setup"
    cancelled: threading.Event = field(default_factory=threading.Event)

    @property
    def dry(self) -> bool:
        return self.mode == "plan"


class HostData:
    """`host.data.x`: the merged inventory data; a missing key reads as None, like pyinfra."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_data", dict(data))

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        return self._data.get(key)

    def __setattr__(self, key: str, value: Any) -> None:
        self._data[key] = value

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def dict(self) -> dict[str, Any]:
        return dict(self._data)

    def __repr__(self) -> str:
        return f"HostData({sorted(self._data)})"


@dataclass
class OpExecution:
    """The operation running on this host right now, and what it has done so far."""

    args: dict[str, Any]
    deploy_dir: Path
    dry: bool
    commands: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    diffs: list[str] = field(default_factory=list)


def tail(lines: Iterable[str], count: int = STDERR_TAIL_LINES) -> str:
    return "\n".join(list(lines)[-count:])


class Host:
    def __init__(self, spec: InventoryHost, connector: Connector, run: RunContext) -> None:
        self.name = spec.name
        self.groups = list(spec.groups)
        self.data = HostData(spec.data)
        self.spec = spec
        self.connector = connector
        self.run = run
        self.mask = Masker(spec.secrets)
        self.identities = IdentityTracker()
        self.queued: list[QueuedOp] = []
        self.current_file: DeployFile | None = None
        self.current: OpExecution | None = None

    def __repr__(self) -> str:
        return f"Host({self.name!r})"

    # -- deploy-code API -------------------------------------------------------------------

    def loop(self, iterable: Iterable[T]) -> Iterator[T]:
        """Iterate so that each iteration's operations have their own identity."""
        return self.identities.loop(iterable)

    def get_fact(self, fact_cls: type[FactBase[T]], **kwargs: Any) -> T | None:
        """Run the fact's command on this host now (facts are not cached between ops)."""
        if not (isinstance(fact_cls, type) and issubclass(fact_cls, FactBase)):
            raise TypeError(f"host.get_fact needs a fact class, got {fact_cls!r}")
        self._warn_if_fact_is_stale(fact_cls)
        args = dict(self.current.args) if self.current else default_arguments(self.data.get)
        for key in [k for k in kwargs if k in ARGUMENTS_BY_NAME]:
            args[key] = kwargs.pop(key)
        fact = fact_cls()
        command_args = CommandArgs.from_globals(args)
        if fact.shell_executable:
            command_args = CommandArgs.from_globals(
                {**args, "_shell_executable": fact.shell_executable}
            )
        command = StringCommand(fact.full_command(**kwargs))
        output = self.run_command(command, command_args)
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

    def _warn_if_fact_is_stale(self, fact_cls: type[FactBase[Any]]) -> None:
        if self.run.phase != "prepare" or not self.queued or fact_cls.immutable:
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

    def noop(self, reason: str) -> None:
        if self.current is not None:
            self.current.reasons.append(self.mask(reason))

    def record_diff(self, path: str, before: str | None, after: str) -> None:
        if self.current is None:
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

    def local_path(self, src: str) -> Path:
        path = Path(src)
        if path.is_absolute():
            return path
        base = self.current.deploy_dir if self.current else None
        if base is None and self.current_file is not None:
            base = self.current_file.directory
        return (base or Path.cwd()) / path

    def get_file(self, remote_path: str) -> bytes | None:
        args = CommandArgs.from_globals(self.current.args if self.current else {})
        try:
            return self.connector.get_file(remote_path, args)
        except FileNotFoundError:
            return None
        except ConnectionLost as exc:
            raise HostFailure(self.mask(str(exc))) from None

    # -- engine side -----------------------------------------------------------------------

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
