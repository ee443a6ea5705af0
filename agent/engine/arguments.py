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
    ArgumentSpec(
        "_sudo_password",
        None,
        "Password for sudo, written to sudo's stdin (`sudo -S -k`), never on a command line.",
        "auth",
    ),
    ArgumentSpec("_use_sudo_login", False, "Run sudo with a login shell (`-i`).", "auth"),
    ArgumentSpec(
        "_preserve_sudo_env", False, "Keep the login user's environment under sudo (`-E`).", "auth"
    ),
    ArgumentSpec("_su_user", None, "Run commands as this user through `su -c`.", "auth"),
    ArgumentSpec("_use_su_login", False, "Run su with a login shell (`-l`).", "auth"),
    ArgumentSpec(
        "_preserve_su_env", False, "Keep the login user's environment under su (`-m`).", "auth"
    ),
    ArgumentSpec(
        "_su_shell",
        False,
        "Shell su starts instead of the user's login shell (`-s`), for nologin users.",
        "auth",
    ),
    ArgumentSpec("_su_password", None, "Password for su, written to su's stdin.", "auth"),
    ArgumentSpec("_doas", False, "Run commands with doas (`doas -n`).", "auth"),
    ArgumentSpec("_doas_user", None, "Run commands as this user through doas (`-u`).", "auth"),
    ArgumentSpec("_dzdo", False, "Run commands with dzdo (`dzdo -H -n`).", "auth"),
    ArgumentSpec("_dzdo_user", None, "Run commands as this user through dzdo (`-u`).", "auth"),
    ArgumentSpec("_env", None, "Variables (dict) exported before the command.", "shell"),
    ArgumentSpec("_chdir", None, "Directory to `cd` into before the command.", "shell"),
    ArgumentSpec("_shell_executable", "sh", "Shell that runs the command (`sh -c`).", "shell"),
    ArgumentSpec("_timeout", None, "Seconds each command may run before it fails.", "shell"),
    ArgumentSpec(
        "_success_exit_codes", (0,), "Exit codes that count as success (default 0).", "shell"
    ),
    ArgumentSpec("_get_pty", False, "Run commands in a pseudo-terminal (SSH only).", "shell"),
    ArgumentSpec(
        "_stdin", None, "Text, lines or a file object written to each command's stdin.", "shell"
    ),
    ArgumentSpec(
        "_temp_dir",
        None,
        "Directory on the host for the temporary copy of an upload made through sudo/su.",
        "shell",
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
    ArgumentSpec(
        "_diff",
        True,
        "False keeps the operation's file diffs out of every output (plan, reports, the state"
        " DB): the report says `(diff suppressed)`. For files that hold secrets.",
        "meta",
    ),
    ArgumentSpec("_retries", 0, "Times to re-run the operation after it fails.", "retry"),
    ArgumentSpec("_retry_delay", 5, "Seconds to wait between retries.", "retry"),
    ArgumentSpec(
        "_retry_until",
        None,
        "Callable given the attempt's output (dict); True retries an attempt that succeeded.",
        "retry",
    ),
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
    kwargs: dict[str, Any],
    host_data_get: Callable[[str], Any],
    scope: Mapping[str, Any] | None = None,
    config: Config | None = None,
) -> dict[str, Any]:
    """Remove the global arguments from an operation's kwargs and resolve every one of them.

    Precedence is pyinfra's: the operation's own keyword, then the enclosing `host.when` /
    `host.arguments` / `@deploy` scope, then `host.data._<name>`, then `config`. `_if` is the
    exception: the scope's conditions and the operation's own all have to hold, so a block's
    condition can never be switched off by an operation inside it.
    """
    scope = scope or {}
    config_defaults = config.argument_defaults() if config is not None else {}
    resolved: dict[str, Any] = {}
    for spec in GLOBAL_ARGUMENTS:
        if spec.name == "_if":
            own = if_callables(kwargs.pop("_if", None))
            resolved["_if"] = [*if_callables(scope.get("_if")), *own]
            continue
        if spec.name in kwargs:
            resolved[spec.name] = kwargs.pop(spec.name)
        elif spec.name in scope:
            resolved[spec.name] = scope[spec.name]
        else:
            from_data = host_data_get(spec.name) if spec.name.startswith("_") else None
            if from_data is not None:
                resolved[spec.name] = from_data
            else:
                resolved[spec.name] = config_defaults.get(spec.name, spec.default)
    if config is not None and config.ENV:
        resolved["_env"] = {**config.ENV, **(resolved["_env"] or {})}
    return resolved


def merge_scope(outer: Mapping[str, Any], inner: Mapping[str, Any]) -> dict[str, Any]:
    """Arguments of a block nested in another: inner values win, `_if` lists add up."""
    merged = {**outer, **inner}
    if "_if" in outer or "_if" in inner:
        merged["_if"] = [*if_callables(outer.get("_if")), *if_callables(inner.get("_if"))]
    return merged


def split_global_arguments(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Pop only the global arguments actually passed (a `@deploy(...)` call, `host.arguments`)."""
    found = {key: kwargs.pop(key) for key in list(kwargs) if key in ARGUMENTS_BY_NAME}
    found.pop("name", None)
    if "_if" in found:
        found["_if"] = if_callables(found["_if"])
    return found


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


# pyinfra `config` attributes that are the lowest layer of a global argument's default.
CONFIG_ARGUMENTS: Mapping[str, str] = {
    "SUDO": "_sudo",
    "SUDO_USER": "_sudo_user",
    "SUDO_PASSWORD": "_sudo_password",
    "USE_SUDO_LOGIN": "_use_sudo_login",
    "PRESERVE_SUDO_ENV": "_preserve_sudo_env",
    "SU_USER": "_su_user",
    "USE_SU_LOGIN": "_use_su_login",
    "PRESERVE_SU_ENV": "_preserve_su_env",
    "SU_SHELL": "_su_shell",
    "SU_PASSWORD": "_su_password",
    "DOAS": "_doas",
    "DOAS_USER": "_doas_user",
    "DZDO": "_dzdo",
    "DZDO_USER": "_dzdo_user",
    "SHELL": "_shell_executable",
    "TEMP_DIR": "_temp_dir",
    "IGNORE_ERRORS": "_ignore_errors",
    "RETRY": "_retries",
    "RETRY_DELAY": "_retry_delay",
    "PARALLEL": "_parallel",
}
# Settings that tune pyinfra's controller; accepted so config files run, with no effect here
# (the agent's own configuration decides these), except FAIL_PERCENT from config.py.
CONFIG_CONTROLLER_ONLY: Mapping[str, Any] = {
    "FAIL_PERCENT": None,
    "CONNECT_TIMEOUT": 10,
    "DEFAULT_TEMP_DIR": "/tmp",
    "REQUIRE_PYINFRA_VERSION": None,
    "REQUIRE_PACKAGES": None,
    "DIFF": False,
    "INHERIT_ENV": (),
}


class Config:
    """pyinfra's `config` object for one run (and a copy per host per deploy file).

    pyinfra gives every host's execution of a deploy file its own copy of the config, so
    `config.SUDO = True` at the top of a deploy file affects that file's later operations on
    that host only; the engine keeps that model instead of a process-wide object.
    """

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        defaults: dict[str, Any] = {
            **{key: ARGUMENTS_BY_NAME[arg].default for key, arg in CONFIG_ARGUMENTS.items()},
            **CONFIG_CONTROLLER_ONLY,
            "ENV": {},
            "PARALLEL": 0,
        }
        defaults.update(values or {})
        for key, value in defaults.items():
            setattr(self, key, value)

    def copy(self) -> Config:
        return Config(vars(self))

    def argument_defaults(self) -> dict[str, Any]:
        found = {arg: getattr(self, key) for key, arg in CONFIG_ARGUMENTS.items()}
        if not found["_parallel"]:
            found["_parallel"] = None
        return found
