"""Which host the deploy code and operations are running for, without process globals.

`host` is a proxy: each attribute access looks up the Host bound in the current
`contextvars` context. The engine binds it per worker thread, so two runs (or two hosts of
one run) in one process each see their own host.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

from agent.engine.arguments import Config
from agent.engine.errors import UnknownAttributeError

if TYPE_CHECKING:
    from agent.engine.host import Host

T = TypeVar("T")

_current_host: ContextVar[Host | None] = ContextVar("pullinfra_current_host", default=None)
# config.py runs before any host is bound; it edits the run's base config through this.
_setup_config: ContextVar[Config | None] = ContextVar("pullinfra_setup_config", default=None)


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
def _bound(var: ContextVar[T | None], value: T) -> Iterator[T]:
    """`var` holds `value` inside the block and what it held before after it, even when the
    block raises: a worker thread goes on to the next host, or the next run, clean."""
    token = var.set(value)
    try:
        yield value
    finally:
        var.reset(token)


def bound_host(host: Host) -> AbstractContextManager[Host]:
    return _bound(_current_host, host)


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


def bound_setup_config(config: Config) -> AbstractContextManager[Config]:
    return _bound(_setup_config, config)


def current_config() -> Config:
    """The host's config while deploy code runs for it, else the run's (config.py)."""
    setup = _setup_config.get()
    if setup is not None:
        return setup
    return current_host().config


class ConfigProxy:
    """`from pyinfra import config`: reads and writes go to the current host's config copy."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return getattr(current_config(), name)
        except AttributeError:
            raise UnknownAttributeError(
                f"config.{name} is not a pyinfra config setting", fix="check the name"
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(current_config(), name, value)

    def __repr__(self) -> str:
        return "<pullinfra config proxy>"


class InventoryProxy:
    """`from pyinfra import inventory`: the hosts of the run the current host belongs to."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and _current_host.get() is None:
            raise AttributeError(name)
        return getattr(current_host().run.inventory, name)

    def __iter__(self) -> Iterator[Host]:
        return iter(current_host().run.inventory)

    def __len__(self) -> int:
        return len(current_host().run.inventory)

    def __repr__(self) -> str:
        return "<pullinfra inventory proxy>"


config = ConfigProxy()
inventory = InventoryProxy()
