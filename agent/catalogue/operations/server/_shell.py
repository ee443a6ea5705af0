"""server.shell: commands run as they are, every time."""

from __future__ import annotations

from agent.engine.command import Commands
from agent.engine.operation import operation

__all__ = ["shell"]


@operation(is_idempotent=False)
def shell(commands: str | list[str]) -> Commands:
    """Run one or more shell commands, every time: the host's state is not inspected."""
    if isinstance(commands, str):
        commands = [commands]
    yield from commands
