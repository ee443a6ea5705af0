"""server operations: kernel settings (sysctl)."""

from __future__ import annotations

from typing import Any

from agent.catalogue.facts.server._kernel import Sysctl
from agent.catalogue.operations import files
from agent.engine.command import Commands, QuoteString, StringCommand
from agent.engine.context import host
from agent.engine.operation import operation
from agent.engine.operation_errors import OperationValueError

__all__ = ["sysctl"]


def _as_number(value: Any) -> Any:
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def _wanted(value: str | int | list[str | int]) -> Any:
    """The value in the shape the Sysctl fact gives: numbers as ints, several words a list."""
    if isinstance(value, list):
        numbers = [_as_number(part) for part in value]
        return numbers[0] if len(numbers) == 1 else numbers
    if isinstance(value, str) and len(value.split()) > 1:
        return [_as_number(part) for part in value.split()]
    return _as_number(value)


def _check_key(key: Any) -> str:
    if not isinstance(key, str) or not key.strip() or any(c.isspace() or c == "=" for c in key):
        raise OperationValueError(
            f"server.sysctl needs a sysctl key such as 'net.ipv4.ip_forward', got {key!r}: "
            "pass the setting's dotted name as key=..."
        )
    return key


@operation()
def sysctl(
    key: str,
    value: str | int | list[str | int],
    persist: bool = False,
    persist_file: str = "/etc/sysctl.conf",
) -> Commands:
    """Set a kernel setting now and, with `persist`, as `key = value` in `persist_file` so it
    holds after a reboot."""
    key = _check_key(key)
    text = " ".join(str(part) for part in value) if isinstance(value, list) else value
    current = host.get_fact(Sysctl, keys=[key]).get(key)

    if current != _wanted(value):
        assignment = StringCommand(QuoteString(key), "=", QuoteString(str(text)), separator="")
        yield StringCommand("sysctl", assignment)
    else:
        host.noop(f"sysctl {key} is set to {text}")

    if persist:
        yield from files.line._inner(
            path=persist_file,
            line=f"{key}[[:space:]]*=[[:space:]]*{text}",
            replace=f"{key} = {text}",
        )
