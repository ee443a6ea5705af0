"""Learn which facts queued operations will read, so that they are read in one batch.

An operation is a generator that reads facts before it yields its first command. Running
it here, with reads answered from what the host's pipeline already knows, shows the facts
it lacks (`missing_reads`); it is stopped at its first yield, which it never passes. The
missing reads of all a host's operations go in one round trip, and the discovery runs again
with the answers, for the reads that depend on them.

Two moments use it (engine/pipeline.py keeps the answers true):
- at the end of prepare, for every queued operation of a host (`prefetch_queued`): on a
  host with nothing to change, every operation then runs from facts already read;
- when an operation's changing commands are about to be sent (`reads_after_change`): the
  next operation's first reads go in the same round trip, after those commands.

Discovery changes nothing: commands are never yielded past the first, `host.noop` and diffs
land in a scratch execution, and what needs the host (get_file, run_shell_command) ends it.
A generator that fails here is simply left to fail for real at execute time.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

from agent.engine.connectors.base import CommandOutput
from agent.engine.context import bound_host
from agent.engine.host import Host, OpExecution
from agent.engine.operation import QueuedOp
from agent.engine.pipeline import DiscoveryStop, FactRead

# A read that depends on an earlier one's answer needs another round; operations rarely
# nest deeper than this before their first command.
MAX_ROUNDS = 3
# A generator on a wrong branch could ask for a great many reads; past this, stop.
MAX_READS_PER_OPERATION = 16
# What a missing fact reads as during discovery: no output, which every fact takes as its
# empty value (FactBase.default).
UNKNOWN = CommandOutput(0, [], [])

Lookup = Callable[[FactRead], CommandOutput | None]


def missing_reads(host: Host, queued: QueuedOp, lookup: Lookup) -> list[FactRead]:
    """The facts `queued` would read on `host` before its first command that `lookup`
    cannot answer.

    A missing fact is answered with the fact's empty value and the generator goes on, so
    that reads which do not depend on the answer are found in the same round. That answer
    may send it down a branch the real answer would not: then a read is asked for that the
    operation will not make (one wasted read), or one it will make is found only in the
    next round. What the operation acts on is never this answer: it reads through the
    pipeline at execute time.
    """
    if not inspect.isgeneratorfunction(queued.definition.function):
        return []
    missing: dict[str, FactRead] = {}

    def answer(read: FactRead) -> CommandOutput:
        if not read.cacheable or len(missing) >= MAX_READS_PER_OPERATION:
            raise DiscoveryStop()
        known = lookup(read)
        if known is not None:
            return known
        missing.setdefault(read.key, read)
        return UNKNOWN

    execution = OpExecution(
        dict(queued.global_args), queued.deploy_dir, True, queued.deploy_data, discovery=answer
    )
    with bound_host(host), host.executing(execution):
        generator = queued.definition.function(*queued.args, **queued.kwargs)
        try:
            next(generator)
        except (DiscoveryStop, Exception):
            pass
        finally:
            generator.close()
    return list(missing.values())


def prefetch_queued(host: Host, queued: Sequence[QueuedOp]) -> None:
    """Read, in a few round trips, the facts `queued` needs on a host not yet changed."""
    waiting = list(queued)
    for _ in range(MAX_ROUNDS):
        misses: dict[str, FactRead] = {}
        still_waiting = []
        for op in waiting:
            reads = missing_reads(host, op, host.pipeline.known)
            for read in reads:
                misses.setdefault(read.key, read)
            if reads:
                still_waiting.append(op)
        if not misses:
            return
        host.send_commands(list(misses.values()))
        waiting = still_waiting


def reads_after_change(host: Host, following: QueuedOp | None) -> list[FactRead]:
    """What `following` reads first, once the commands waiting to be sent have run."""
    if following is None:
        return []
    return missing_reads(host, following, host.pipeline.known_after_change)
