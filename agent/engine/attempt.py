"""What one attempt of an operation on one host produced: its output and its failures.

Shared by execute.py, which drives the generator, and host.py, where deferred commands come
back from a round trip that a fact read inside the generator started (pipeline.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agent.engine.errors import HostFailure
from agent.engine.result import STDERR_TAIL_LINES

if TYPE_CHECKING:
    from agent.engine.pipeline import Exchange


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


def tail(lines: Iterable[str], count: int = STDERR_TAIL_LINES) -> str:
    return "\n".join(list(lines)[-count:])


def record_sent(
    output: AttemptOutput, shown: list[str], exchange: Exchange, mask: Callable[[str], str]
) -> Failure | None:
    """What the round trip says of the attempt's deferred commands: their output and
    failures go into `output`, the ones a failure skipped come off `shown` (they never ran),
    and the first new failure is returned."""
    first_new: Failure | None = None
    for deferred, result in exchange.commands:
        if result is None:
            del shown[deferred.position :]
            break
        output.stdout_lines += result.stdout
        output.stderr_lines += result.stderr
        if result.exit_code in deferred.args.success_exit_codes:
            output.executed_commands += 1
            continue
        failure = Failure(
            f"command failed with exit code {result.exit_code}: {deferred.shown}",
            deferred.shown,
            result.exit_code,
            mask(tail(result.stderr)),
        )
        output.failures.append(failure)
        first_new = first_new or failure
    return first_new
