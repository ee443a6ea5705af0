"""Which host the deploy code and operations are running for, without process globals.

`host` is a proxy: each attribute access looks up the Host bound in the current
`contextvars` context. The engine binds it per worker thread, so two runs (or two hosts of
one run) in one process each see their own host.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.engine.host import Host

_current_host: ContextVar[Host | None] = ContextVar("pullinfra_current_host", default=None)


class NoHostBound(RuntimeError):
    """`host` was used outside a run (e.g. at import time of a helper module)."""


def current_host() -> Host:
    bound = _current_host.get()
    if bound is None:
        raise NoHostBound(
            "`host` is only available while pullinfra runs deploy code or operations"
        )
    return bound


@contextmanager
def bound_host(host: Host) -> Iterator[Host]:
    token = _current_host.set(host)
    try:
        yield host
    finally:
        _current_host.reset(token)


class HostProxy:
    """Stands in for the current host; `from pyinfra import host` gives one of these."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") and _current_host.get() is None:
            raise AttributeError(name)  # introspection (copy, inspect) outside a run
        return getattr(current_host(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(current_host(), name, value)

    def __repr__(self) -> str:
        bound = _current_host.get()
        return f"<host proxy: {bound.name if bound else 'unbound'}>"

    def __eq__(self, other: object) -> bool:
        return current_host() == other

    def __hash__(self) -> int:
        return hash(current_host())


host = HostProxy()
