"""Global arguments: every operation accepts them, and they are declared once, here.

The table is the single source for defaults, validation and documentation. Values resolve
as pyinfra does: an explicit keyword, else `host.data._<name>`, else the default.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ArgumentSpec:
    name: str
    default: Any
    description: str
    kind: str  # meta | auth | shell | execution | retry


GLOBAL_ARGUMENTS: tuple[ArgumentSpec, ...] = (
    ArgumentSpec("name", None, "Name shown for the operation (default: module.function).", "meta"),
    ArgumentSpec("_sudo", False, "Run commands with sudo (`sudo -H -n`).", "auth"),
    ArgumentSpec("_sudo_user", None, "Run commands as this user through sudo (`-u`).", "auth"),
    ArgumentSpec("_su_user", None, "Run commands as this user through `su -c`.", "auth"),
    ArgumentSpec("_env", None, "Variables (dict) exported before the command.", "shell"),
    ArgumentSpec("_chdir", None, "Directory to `cd` into before the command.", "shell"),
    ArgumentSpec("_shell_executable", "sh", "Shell that runs the command (`sh -c`).", "shell"),
    ArgumentSpec("_timeout", None, "Seconds each command may run before it fails.", "shell"),
    ArgumentSpec(
        "_success_exit_codes", (0,), "Exit codes that count as success (default 0).", "shell"
    ),
    ArgumentSpec(
        "_ignore_errors", False, "A failure is recorded but the host goes on.", "meta"
    ),
    ArgumentSpec(
        "_continue_on_error",
        False,
        "A failed command does not stop the operation's remaining commands.",
        "meta",
    ),
    ArgumentSpec(
        "_if",
        None,
        "Callable or list of callables, all true at execute time, for the operation to run.",
        "meta",
    ),
    ArgumentSpec("_retries", 0, "Times to re-run the operation after it fails.", "retry"),
    ArgumentSpec("_retry_delay", 5, "Seconds to wait between retries.", "retry"),
    ArgumentSpec("_serial", False, "Run the operation on one host at a time.", "execution"),
    ArgumentSpec(
        "_parallel", None, "Run the operation on at most this many hosts at once.", "execution"
    ),
    ArgumentSpec("_run_once", False, "Run the operation on the first host only.", "execution"),
)

ARGUMENTS_BY_NAME: Mapping[str, ArgumentSpec] = {a.name: a for a in GLOBAL_ARGUMENTS}
EXECUTION_ARGUMENTS = frozenset(a.name for a in GLOBAL_ARGUMENTS if a.kind == "execution")
COMMAND_ARGUMENTS = frozenset(
    a.name for a in GLOBAL_ARGUMENTS if a.kind in ("auth", "shell")
)


def pop_global_arguments(
    kwargs: dict[str, Any], host_data_get: Callable[[str], Any]
) -> dict[str, Any]:
    """Remove the global arguments from an operation's kwargs and resolve every one of them."""
    resolved: dict[str, Any] = {}
    for spec in GLOBAL_ARGUMENTS:
        if spec.name in kwargs:
            resolved[spec.name] = kwargs.pop(spec.name)
            continue
        from_data = host_data_get(spec.name) if spec.name.startswith("_") else None
        resolved[spec.name] = spec.default if from_data is None else from_data
    return resolved


def default_arguments(host_data_get: Callable[[str], Any]) -> dict[str, Any]:
    """The global arguments that apply outside any operation (facts read by deploy code)."""
    return pop_global_arguments({}, host_data_get)


def if_callables(value: Any) -> list[Callable[[], Any]]:
    """`_if` accepts one callable or a list of them; normalise to a list."""
    if value is None:
        return []
    if callable(value):
        return [value]
    if isinstance(value, list | tuple):
        for item in value:
            if not callable(item):
                raise TypeError(f"_if list items must be callables, got {item!r}")
        return list(value)
    raise TypeError(
        f"_if must be a callable or a list of callables, got {value!r}"
        " (pass op.did_change, not op.did_change())"
    )
