"""A host's round trips: commands waiting to be sent, and the facts it already read.

An operation's shell commands are not sent one by one as its generator yields them. They
wait here until the host must answer something (a fact read, an upload, a callback, the end
of the operation), and then go together with that read in one round trip (the connector's
`run_batch`). Fact outputs are kept by the exact shell text that produced them, and stay
true while this host has changed nothing:

- a batch that sent a changing command, an upload, a python callback, a command run
  through `host.run_shell_command` or a disconnect (a reboot may follow) forgets every
  fact except the immutable ones, before the reads sent after it in the same batch are
  kept;
- facts that change on their own (`cacheable = False`: the clock, uptime, processes) are
  never kept.

So an operation never acts on a fact that an earlier operation on the same host made stale.
What the cache cannot see is a host changed from elsewhere during the run (another host's
command, a person); pyinfra 3 would see it, since it reads every fact live. See
docs/architecture.md, "Round trips".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from agent.engine.command import StringCommand
from agent.engine.connectors.base import CommandArgs, CommandOutput, Connector, ShellRequest
from agent.engine.connectors.shell import fits_shell


class DiscoveryStop(BaseException):
    """Ends a generator run only to learn its facts (prefetch.py). A BaseException, so that
    an operation's own `except Exception` cannot swallow it."""


@dataclass(frozen=True)
class FactRead:
    """One fact command, as it would be sent: `key` is its exact shell text."""

    command: StringCommand
    args: CommandArgs
    key: str
    immutable: bool = False
    cacheable: bool = True


@dataclass(frozen=True)
class Deferred:
    """A changing command an operation yielded, not yet sent. `position` is its place in
    the operation's command list, so commands a failure skipped can be taken off it."""

    command: StringCommand
    args: CommandArgs
    shown: str
    position: int


@dataclass
class Exchange:
    """What one round trip gave back: each deferred command's output (None: skipped after
    an earlier failure) and each read's output, in the order they were asked."""

    commands: list[tuple[Deferred, CommandOutput | None]] = field(default_factory=list)
    reads: list[CommandOutput] = field(default_factory=list)


class HostPipeline:
    def __init__(self, connector: Connector) -> None:
        self.connector = connector
        self.pending: list[Deferred] = []
        self._facts: dict[str, tuple[CommandOutput, bool]] = {}  # key -> (output, immutable)
        self.round_trips = 0

    # -- what is known -------------------------------------------------------------------

    def known(self, read: FactRead) -> CommandOutput | None:
        """The read's output if it is still true now."""
        if self.pending:
            return self.known_after_change(read)
        entry = self._facts.get(read.key)
        return entry[0] if entry else None

    def known_after_change(self, read: FactRead) -> CommandOutput | None:
        """The read's output if it stays true whatever the pending commands change."""
        entry = self._facts.get(read.key)
        return entry[0] if entry and entry[1] else None

    def host_changed(self) -> None:
        """Something this pipeline did not send changed the host (an upload, a callback)."""
        self._facts = {key: entry for key, entry in self._facts.items() if entry[1]}

    # -- sending ---------------------------------------------------------------------------

    def defer(self, deferred: Deferred) -> None:
        self.pending.append(deferred)

    def exchange(self, reads: Sequence[FactRead], stop_after_failure: bool) -> Exchange:
        """Send the pending commands, then the reads, in as few round trips as they allow:
        one, unless something needs a channel of its own (`fits_shell`)."""
        pending, self.pending = self.pending, []
        requests = [ShellRequest(d.command, d.args) for d in pending]
        requests += [ShellRequest(r.command, r.args, reads_only=True) for r in reads]
        outputs = self._run(requests, stop_after_failure)
        result = Exchange(list(zip(pending, outputs[: len(pending)], strict=True)))
        if pending:
            self.host_changed()
        for read, output in zip(reads, outputs[len(pending) :], strict=True):
            assert output is not None  # reads always run
            result.reads.append(output)
            if read.cacheable:
                self._facts[read.key] = (output, read.immutable)
        return result

    def _run(
        self, requests: list[ShellRequest], stop_after_failure: bool
    ) -> list[CommandOutput | None]:
        """Consecutive requests that fit the shared shell go together; the others alone."""
        outputs: list[CommandOutput | None] = []
        failed = False
        start = 0
        while start < len(requests):
            end = start
            while end < len(requests) and fits_shell(requests[end].args):
                end += 1
            group = requests[start:end] if end > start else requests[start : start + 1]
            if failed and stop_after_failure:
                group_out = self._skip_changes(group)
            else:
                group_out = self.connector.run_batch(group, stop_after_failure)
                self.round_trips += 1
            for request, output in zip(group, group_out, strict=True):
                if not request.reads_only and (
                    output is None or output.exit_code not in request.args.success_exit_codes
                ):
                    failed = True
            outputs += group_out
            start += len(group)
        return outputs

    def _skip_changes(self, group: list[ShellRequest]) -> list[CommandOutput | None]:
        """After a failure only the reads of a group run."""
        reads = [request for request in group if request.reads_only]
        answered = iter(self.connector.run_batch(reads, False) if reads else [])
        if reads:
            self.round_trips += 1
        return [next(answered) if request.reads_only else None for request in group]
