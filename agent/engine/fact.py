"""FactBase: the contract every fact implements (the catalogue's facts and users' own).

A fact is a command plus a parser. `command()` takes the fact's keyword arguments, `process()`
turns the output lines into a value, and `default()` is the value when the command prints
nothing (or `requires_command()` names a tool the host lacks). `immutable = True` marks facts
that deploy code may safely branch on during prepare (OS, architecture): reading any other
fact after an operation was queued makes the engine warn, because the value shows the host
before those operations ran.
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

from agent.engine.naming import module_label

T = TypeVar("T")


class FactError(Exception):
    """The fact's output could not be understood; the host fails with this message."""


class FactBase(Generic[T]):
    immutable: ClassVar[bool] = False
    # False for facts that change on their own (the clock, uptime, processes): they are
    # read live every time, never kept while the host is unchanged (engine/pipeline.py).
    cacheable: ClassVar[bool] = True
    shell_executable: ClassVar[str | None] = None
    name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        module = module_label(cls.__module__)
        cls.name = f"{module}.{cls.__name__}"

    def command(self, **kwargs: Any) -> str:
        raise NotImplementedError(f"{type(self).name} has no command()")

    def requires_command(self, **kwargs: Any) -> str | None:
        return None

    def default(self) -> T | None:
        return None

    def process(self, output: list[str]) -> T:
        return "\n".join(output)  # type: ignore[return-value]

    def full_command(self, **kwargs: Any) -> str:
        """The command with the required-tool guard, as the engine sends it."""
        command = self.command(**kwargs)
        required = self.requires_command(**kwargs)
        if required:
            return f"! command -v {required} >/dev/null || ({command})"
        return command
