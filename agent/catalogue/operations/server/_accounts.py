"""server operations on local accounts: groups (and users)."""

from __future__ import annotations

from agent.catalogue.facts.server import Groups
from agent.engine.command import Commands, QuoteString, StringCommand
from agent.engine.context import host
from agent.engine.operation import operation

__all__ = ["group"]


@operation()
def group(
    group: str, present: bool = True, system: bool = False, gid: int | str | None = None
) -> Commands:
    """Ensure a local group exists (or not); an existing group's gid is left as it is."""
    groups = host.get_fact(Groups) or []
    if not present:
        if group in groups:
            yield StringCommand("groupdel", QuoteString(group))
        else:
            host.noop(f"group {group} does not exist")
        return
    if group in groups:
        host.noop(f"group {group} exists")
        return
    bits: list[object] = ["groupadd"]
    if system:
        bits.append("-r")
    if gid is not None:
        bits += ["-g", QuoteString(str(gid))]
    yield StringCommand(*bits, QuoteString(group))
