"""What one attempt of an operation on one host produced: its output and its failures.

Shared by execute.py, which drives the generator, and host.py, where deferred commands come
back from a round trip that a fact read inside the generator started (pipeline.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.engine.errors import HostFailure


@dataclass
class Failure:
    message: str
    command: str | None = None
    exit_code: int | None = None
    stderr_tail: str = ""


@dataclass
class AttemptOutput:
    """What one attempt's shell commands printed, for `_retry_until`, and how they failed."""

    stdout_lines: list[str] = field(default_factory=list)
    stderr_lines: list[str] = field(default_factory=list)
    executed_commands: int = 0
    failures: list[Failure] = field(default_factory=list)


class CommandFailed(HostFailure):
    """A deferred command failed, learnt in a round trip a fact read started: it stops the
    generator where the read was, as the failure would have where the command was yielded."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(
            failure.message,
            command=failure.command,
            exit_code=failure.exit_code,
            stderr_tail=failure.stderr_tail,
        )
        self.failure = failure
