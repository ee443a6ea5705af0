"""server.packages: install or remove packages with whichever package manager the host has."""

from __future__ import annotations

from agent.catalogue.facts.server import Which
from agent.catalogue.operations import apt
from agent.engine.command import Commands
from agent.engine.context import host
from agent.engine.operation import operation
from agent.engine.operation_errors import OperationError

__all__ = ["packages"]

# pyinfra's order of preference, each manager with the tools that reveal it. zypper comes
# first because openSUSE also ships apt-like tools; apt is the only one pullinfra drives yet.
_MANAGERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("zypper", ("zypper",)),
    ("apk", ("apk",)),
    ("apt", ("apt",)),
    ("brew", ("brew",)),
    ("dnf", ("dnf",)),
    ("pacman", ("pacman",)),
    ("xbps", ("xbps-install", "xbps")),
    ("yum", ("yum",)),
    ("pkg", ("pkg", "pkg_add")),
)


def _package_manager() -> str | None:
    for manager, tools in _MANAGERS:
        if any(host.get_fact(Which, command=tool) for tool in tools):
            return manager
    return None


@operation()
def packages(packages: str | list[str], present: bool = True) -> Commands:
    """The portable form of `<manager>.packages`: the same request on every host, handed to
    the host's own package manager."""
    manager = _package_manager()
    if manager is None:
        raise OperationError(
            "No system package manager found "
            "(no apk, apt, brew, dnf, pacman, pkg, xbps, yum or zypper found)"
        )
    if manager != "apt":
        raise OperationError(
            f"server.packages found {manager} on this host, and pullinfra installs packages "
            f"only with apt so far: manage them with server.shell for now"
        )
    yield from apt.packages._inner(packages=packages, present=present)
