"""python operations: deploy code's own Python, run at execute time on the machine that runs
pullinfra, with `host` bound to the host the operation is running for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.engine.command import Commands, FunctionCommand
from agent.engine.operation import operation


@operation(is_idempotent=False)
def call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Commands:
    """Run `function(*args, **kwargs)` when the operation's turn comes, not at prepare, so it
    sees what the operations before it did. Its return value is ignored; an exception fails
    the operation on that host, as in pyinfra."""
    yield FunctionCommand(function, args, kwargs)


@operation(is_idempotent=False)
def raise_exception(exception: type[BaseException], *args: Any, **kwargs: Any) -> Commands:
    """Fail the operation on each host at execute time with `exception(*args, **kwargs)`:
    a deploy's way to stop hosts that reach a branch it does not support."""

    def raise_it(*args: Any, **kwargs: Any) -> None:
        raise exception(*args, **kwargs)

    yield FunctionCommand(raise_it, args, kwargs)
