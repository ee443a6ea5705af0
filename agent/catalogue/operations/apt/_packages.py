"""apt.update, apt.upgrade, apt.dist_upgrade and apt.packages: keep package lists fresh and
packages installed, removed or current.

Commands run non-interactively and keep existing config files (``--force-confold``), so an
unattended run never stops at a prompt.
"""

from __future__ import annotations

import shlex
from datetime import UTC, timedelta

from agent.catalogue.facts.apt import AptPolicy, AptSimulate
from agent.catalogue.facts.deb import DebPackages
from agent.catalogue.facts.files import File
from agent.catalogue.facts.server import Date
from agent.catalogue.operations.util.packaging import (
    PackageSpec,
    as_list,
    joined,
    plan_packages,
)
from agent.engine.command import Commands, QuoteString, StringCommand
from agent.engine.context import host
from agent.engine.operation import operation

__all__ = ["APT_UPDATE_STAMP", "dist_upgrade", "noninteractive_apt", "packages", "update",
           "upgrade"]

APT_UPDATE_STAMP = "/var/lib/apt/periodic/update-success-stamp"

def noninteractive_apt(command: str, force: bool = False) -> str:
    """An apt-get command line that never prompts and keeps locally changed config files."""
    bits = ["DEBIAN_FRONTEND=noninteractive apt-get -y"]
    if force:
        bits.append("--force-yes")
    bits += [
        '-o Dpkg::Options::="--force-confdef"',
        '-o Dpkg::Options::="--force-confold"',
        command,
    ]
    return " ".join(bits)


def _cache_is_fresh(cache_time: int) -> bool:
    stamp = host.get_fact(File, path=APT_UPDATE_STAMP)
    if not stamp or not stamp.get("mtime"):
        return False
    now = host.get_fact(Date)
    if now is None:
        return False
    # The stamp's mtime is naive UTC; bring the host's aware clock to the same footing.
    now_utc = now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now
    return stamp["mtime"] > now_utc - timedelta(seconds=cache_time)


def _update(cache_time: int | None) -> Commands:
    if cache_time and _cache_is_fresh(cache_time):
        host.noop(f"apt cache is newer than {cache_time}s")
        return
    yield noninteractive_apt("update")
    # Debian does not maintain this stamp itself; touching it is what makes cache_time work.
    yield StringCommand(
        "mkdir -p /var/lib/apt/periodic && touch", QuoteString(APT_UPDATE_STAMP)
    )


def _simulate_then_run(command: str, force: bool = False) -> Commands:
    """Run ``command`` unless its dry run upgrades, installs and removes nothing; a dry run
    that prints no summary (it failed) lets the command run and fail on its own."""
    changes = host.get_fact(AptSimulate, command=command)
    if changes and not (changes["upgraded"] or changes["newly_installed"] or changes["removed"]):
        host.noop(f"{command} skipped, no changes would be performed")
        return
    yield noninteractive_apt(command, force=force)


def _upgrade(auto_remove: bool = False, force: bool = False) -> Commands:
    yield from _simulate_then_run("upgrade --autoremove" if auto_remove else "upgrade", force)


@operation(is_idempotent=False)
def update(cache_time: int | None = None) -> Commands:
    """Refresh the package lists; with ``cache_time`` (seconds), only when older than that."""
    yield from _update(cache_time)


@operation()
def upgrade(auto_remove: bool = False) -> Commands:
    """Upgrade all packages; a simulation first decides whether there is anything to do."""
    yield from _upgrade(auto_remove)


@operation()
def dist_upgrade(auto_remove: bool = False) -> Commands:
    """Upgrade all packages, letting apt add and remove packages to do so; a simulation
    first decides whether there is anything to do."""
    yield from _simulate_then_run("dist-upgrade --autoremove" if auto_remove else "dist-upgrade")


@operation()
def packages(
    packages: str | list[str] | None = None,
    present: bool = True,
    latest: bool = False,
    update: bool = False,
    cache_time: int | None = None,
    upgrade: bool = False,
    force: bool = False,
    no_recommends: bool = False,
    allow_downgrades: bool = False,
    purge: bool = False,
    extra_install_args: str | None = None,
    extra_uninstall_args: str | None = None,
) -> Commands:
    """Install or remove packages (``name`` or ``name=version``).

    ``latest`` upgrades installed, unpinned packages when apt has a newer candidate.
    ``update`` refreshes the lists first (honouring ``cache_time``); ``upgrade`` upgrades the
    whole system first.
    """
    if update:
        yield from _update(cache_time)
    if upgrade:
        yield from _upgrade(force=force)

    wanted = [PackageSpec.parse(name) for name in as_list(packages)]
    if not wanted:
        return

    installed = host.get_fact(DebPackages) or {}
    candidates = None
    if present and latest:
        unpinned = sorted({s.name for s in wanted if s.version is None and s.name in installed})
        if unpinned:
            candidates = host.get_fact(AptPolicy, packages=tuple(unpinned)) or {}
    plan = plan_packages(wanted, installed, present, latest=latest, candidates=candidates)
    for reason in plan.noops:
        host.noop(reason)

    install = ["install"]
    if no_recommends:
        install.append("--no-install-recommends")
    if allow_downgrades:
        install.append("--allow-downgrades")
    upgrade_command = " ".join(install)
    if extra_install_args:
        install.append(extra_install_args)
    uninstall = ["purge" if purge else "remove"]
    if extra_uninstall_args:
        uninstall.append(extra_uninstall_args)

    if plan.install:
        yield noninteractive_apt(f"{' '.join(install)} {joined(plan.install)}", force=force)
    if plan.remove:
        # apt removes by name; a pinned version only decided whether the package matched.
        names = " ".join(shlex.quote(spec.name) for spec in plan.remove)
        yield noninteractive_apt(f"{' '.join(uninstall)} {names}", force=force)
    if plan.upgrade:
        yield noninteractive_apt(f"{upgrade_command} {joined(plan.upgrade)}", force=force)
