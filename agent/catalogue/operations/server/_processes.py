"""server operations: processes (kill)."""

from __future__ import annotations

import re
from typing import Any

from agent.engine.command import Commands, QuoteString, StringCommand
from agent.engine.operation import operation
from agent.engine.operation_errors import OperationValueError

__all__ = ["kill"]

# A signal as kill(1) takes it: a name (TERM, HUP, SIGUSR1, RTMIN+1) or a number.
_SIGNAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+-]*$")


def _pid_text(pid: Any) -> str:
    text = str(pid).strip()
    if isinstance(pid, bool) or not text.isdigit() or int(text) == 0:
        raise OperationValueError(
            f"server.kill needs the process id as pid=1234, got {pid!r} "
            "(server.Processes lists the running processes by pid)"
        )
    return text


@operation(is_idempotent=False)
def kill(pid: int, signal: str = "TERM") -> Commands:
    """Send `signal` to one process. It always counts as a change: a process that already
    exited makes `kill` fail, as it should, since the deploy meant a running one."""
    pid_text = _pid_text(pid)
    signal_text = str(signal)
    if isinstance(signal, bool) or not _SIGNAL.match(signal_text):
        raise OperationValueError(
            f"server.kill needs a signal name or number such as 'TERM', 'KILL' or 9, "
            f"got {signal!r}"
        )
    yield StringCommand("kill", QuoteString(f"-{signal_text}"), QuoteString(pid_text))
