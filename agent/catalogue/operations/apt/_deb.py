"""apt.deb: install (or remove) the package in a ``.deb`` file, on the host or at a URL."""

from __future__ import annotations

import hashlib
from urllib.parse import urlparse

from agent.catalogue.facts.deb import DebPackage, DebPackages
from agent.catalogue.facts.files import File
from agent.catalogue.facts.server import TmpDir, Which
from agent.catalogue.operations.apt._packages import noninteractive_apt
from agent.engine.command import Commands, QuoteString, StringCommand
from agent.engine.context import host
from agent.engine.operation import operation
from agent.engine.operation_errors import OperationValueError

__all__ = ["deb"]

DPKG_INSTALL = "dpkg --force-confdef --force-confold -i"


def _downloaded(src: str) -> Commands:
    """The URL fetched to a temporary file named after it (kept, so a second run reads the
    same file). It ends in ``.deb``: DebPackage reads only such a file as an archive, so the
    second run finds the package installed (pyinfra's name has no suffix, and it reinstalls)."""
    directory = host.get_fact(TmpDir) or "/tmp"
    digest = hashlib.sha1(src.encode()).hexdigest()
    dest = f"{directory.rstrip('/')}/pullinfra-{digest}.deb"
    if not host.get_fact(File, path=dest):
        if host.get_fact(Which, command="curl"):
            yield StringCommand("curl -sSLf", QuoteString(src), "-o", QuoteString(dest))
        elif host.get_fact(Which, command="wget"):
            yield StringCommand("wget -q", QuoteString(src), "-O", QuoteString(dest))
        else:
            raise OperationValueError(f"neither curl nor wget is on the host to download {src}")
    return dest


@operation()
def deb(src: str, present: bool = True, force: bool = False) -> Commands:
    """Install the ``.deb`` at ``src`` unless that version is installed, pulling in its
    dependencies with apt; ``present=False`` removes the package the file holds.

    A URL is downloaded first; removing by URL therefore only works once the file is there.
    """
    original = src
    if urlparse(src).scheme:
        src = yield from _downloaded(src)

    info = host.get_fact(DebPackage, package=src) or {}
    installed = host.get_fact(DebPackages) or {}
    exists = bool(info) and info.get("version") in installed.get(info.get("name"), set())

    if present:
        if exists:
            host.noop(f"deb {original} is installed")
            return
        # dpkg stops at missing dependencies; apt then installs them and dpkg configures.
        yield StringCommand(DPKG_INSTALL, QuoteString(src), "2> /dev/null || true")
        yield f"{noninteractive_apt('install', force=force)} -f"
        yield StringCommand(DPKG_INSTALL, QuoteString(src))
        return

    if exists:
        yield StringCommand(noninteractive_apt("remove", force=force), QuoteString(info["name"]))
    else:
        host.noop(f"deb {original} is not installed")
