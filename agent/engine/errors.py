"""Errors a user can cause and fix, kept apart from engine bugs.

Every user error carries what went wrong, where (file:line) and what to do, so the CLI can
print one clear message (exit code 2) instead of a traceback, and the daemon can store it.
"""

from __future__ import annotations

from typing import NoReturn


class UserError(Exception):
    """Bad input from the user: inventory, deploy code or CLI arguments."""

    def __init__(self, what: str, where: str | None = None, fix: str | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.where = where
        self.fix = fix

    def __str__(self) -> str:
        text = f"{self.where}: {self.what}" if self.where else self.what
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text


class InventoryError(UserError):
    """The inventory or its group data cannot be used."""


class DeployError(UserError):
    """The deploy code cannot be prepared (syntax, names, unknown operations or facts)."""


class UnknownNameError(DeployError):
    """Deploy code asked for an operation or fact that pullinfra does not implement."""


class UnknownAttributeError(UnknownNameError, AttributeError):
    """`host.x`, `inventory.x` or `config.X` that pullinfra does not implement.

    Also an AttributeError, so `getattr(host, "x", default)` and `hasattr` keep working.
    """


def refuse_unknown_attribute(
    owner: str,
    name: str,
    may_use: str,
    *,
    private: str = "_",
    error: type[UnknownNameError] = UnknownAttributeError,
) -> NoReturn:
    """What `owner.name` does when pullinfra lacks it: one wording, naming what deploy code
    may use instead, for `host.x`, `inventory.x` and `pyinfra.x`.

    Names starting with `private` raise a plain AttributeError, so that copy, pickle,
    inspect and hasattr probing them see "no such attribute" rather than a deploy error.
    """
    if name.startswith(private):
        raise AttributeError(name)
    raise error(
        f"{owner}.{name} is not implemented by pullinfra", fix=f"deploy code may use {may_use}"
    )


class PrepareTimeResultError(DeployError):
    """Deploy code read an operation's result before any operation has run."""


class OrderCycleError(DeployError):
    """The hosts' operation sequences contradict each other, so no global order exists."""


class HostFailure(Exception):
    """This host cannot go on (fact failed, connection lost); other hosts are unaffected."""

    def __init__(
        self,
        message: str,
        *,
        command: str | None = None,
        exit_code: int | None = None,
        stderr_tail: str = "",
    ) -> None:
        super().__init__(message)
        self.command = command
        self.exit_code = exit_code
        self.stderr_tail = stderr_tail
