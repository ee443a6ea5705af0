"""files operations on paths: directories, files and links, and what every files operation
uses to make a path, or its parent, what it should be.

Each operation reads the path's current state first and yields only what differs, so a second
run changes nothing."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from agent.catalogue.facts.files import (
    Directory,
    File,
    Link,
    PathState,
)
from agent.catalogue.operations.util.files import (
    attribute_fixes,
    backup_suffix,
    chown,
    ensure_mode_int,
)
from agent.engine.command import Commands, QuoteString, StringCommand
from agent.engine.context import host
from agent.engine.operation import operation
from agent.engine.operation_errors import (
    OperationError,
    OperationTypeError,
)

__all__ = ["directory", "file", "link"]

def check_path(path: Any, argument: str = "path") -> str:
    if isinstance(path, PurePosixPath):
        return str(path)
    if not isinstance(path, str) or not path:
        raise OperationTypeError(f"`{argument}` must be a non-empty string, got {path!r}")
    return path


@dataclass(frozen=True)
class _Forcing:
    """What to do with something else where files.directory, file or link should be: their
    ``force``, ``force_backup`` and ``force_backup_dir`` arguments."""

    force: bool
    backup: bool
    backup_dir: str | None


def _remove_in_the_way(kind: str, path: str, forcing: _Forcing) -> Commands:
    """Something else sits where ``kind`` should be: move it aside, delete it, or refuse."""
    if not forcing.force:
        raise OperationError(f"{path} exists and is not a {kind} (use force=True to replace it)")
    if forcing.backup:
        backup = f"{path}.{backup_suffix()}"
        if forcing.backup_dir:
            backup = f"{forcing.backup_dir.rstrip('/')}/{posixpath.basename(backup)}"
        yield StringCommand("mv", QuoteString(path), QuoteString(backup))
    else:
        yield StringCommand("rm", "-rf", QuoteString(path))


def _ensure_path(
    kind: str,
    path: str,
    info: Any,
    present: bool,
    forcing: _Forcing,
    create: Callable[[], Commands],
    fixes: Callable[[dict], list[StringCommand]],
) -> Commands:
    """The course files.directory, file and link share, so that each says only how it makes
    its kind of path and what an existing one may need.

    ``info`` is the path's fact (False: something else is there, None: nothing). Something
    in the way is dealt with first, even for ``present=False``, as pyinfra does. ``fixes``
    is a list so that an empty one can be reported as "already exists".
    """
    if info is False:
        yield from _remove_in_the_way(kind, path, forcing)
        info = None

    if not present:
        if info:
            yield StringCommand("rm", "-rf" if kind == "directory" else "-f", QuoteString(path))
        else:
            host.noop(f"{kind} {path} does not exist")
        return

    if info is None:
        yield from create()
        return

    needed = fixes(info)
    yield from needed
    if not needed:
        host.noop(f"{kind} {path} already exists")


UNREAD: Any = object()


def parent_dir(path: str) -> str | None:
    parent = posixpath.dirname(path.rstrip("/"))
    return parent if parent and parent != path else None


def ensure_parent_dir(
    path: str, user: str | None, group: str | None, info: Any = UNREAD
) -> Commands:
    """Create the parent directory if missing; an existing one (or a link to one) is kept.

    `info` is the parent's Directory fact when the caller read it already (with get_facts).
    """
    parent = parent_dir(path)
    if parent is None:
        return
    if info is UNREAD:
        info = host.get_fact(Directory, path=parent)
    if info:
        return
    if info is False and host.get_fact(Link, path=parent):
        return
    if info is False:
        raise OperationError(f"{parent} exists and is not a directory")
    yield StringCommand("mkdir", "-p", QuoteString(parent))
    if user or group:
        yield chown(parent, user, group)


@operation()
def directory(
    path: str,
    present: bool = True,
    user: str | None = None,
    group: str | None = None,
    mode: int | str | None = None,
    recursive: bool = False,
    force: bool = False,
    force_backup: bool = True,
    force_backup_dir: str | None = None,
    _no_fail_on_link: bool = False,
) -> Commands:
    """Ensure a directory exists (or not) with the given owner and mode.

    ``recursive`` applies owner and mode to everything below it too. ``force`` replaces a
    non-directory in the way (moved aside to ``path.<timestamp>`` unless ``force_backup`` is
    False). ``_no_fail_on_link`` takes a symlink at ``path`` as the directory and leaves it
    alone: server.user's home may be one.
    """
    path = check_path(path)
    wanted_mode = ensure_mode_int(mode)

    def create() -> Commands:
        yield StringCommand("mkdir", "-p", QuoteString(path))
        yield from attribute_fixes(path, None, wanted_mode, user, group, recursive=recursive)

    def fixes(info: dict) -> list[StringCommand]:
        return attribute_fixes(path, info, wanted_mode, user, group, recursive=recursive)

    info = host.get_fact(Directory, path=path)
    if info is False and _no_fail_on_link and host.get_fact(Link, path=path):
        host.noop(f"directory {path} already exists (as a link)")
        return
    forcing = _Forcing(force, force_backup, force_backup_dir)
    yield from _ensure_path("directory", path, info, present, forcing, create, fixes)


@operation()
def file(
    path: str,
    present: bool = True,
    user: str | None = None,
    group: str | None = None,
    mode: int | str | None = None,
    touch: bool = False,
    create_remote_dir: bool = True,
    force: bool = False,
    force_backup: bool = True,
    force_backup_dir: str | None = None,
) -> Commands:
    """Ensure a regular file exists (empty if new) or is absent, with owner and mode.

    ``touch`` updates the times of an existing file on every run (so it always changes).
    """
    path = check_path(path)
    wanted_mode = ensure_mode_int(mode)
    info, _, parent = read_path(path, checksum=False, parent=present and create_remote_dir)
    if info is False and not present and host.get_fact(Link, path=path):
        # Unlike pyinfra, which refuses: "no file here" is met by removing a symlink (nginx's
        # sites-enabled/default is one on Debian); its target is left alone.
        yield StringCommand("rm", "-f", QuoteString(path))
        return

    def create() -> Commands:
        if create_remote_dir:
            yield from ensure_parent_dir(path, user, group, parent)
        yield StringCommand("touch", QuoteString(path))
        yield from attribute_fixes(path, None, wanted_mode, user, group)

    def fixes(info: dict) -> list[StringCommand]:
        touched = [StringCommand("touch", QuoteString(path))] if touch else []
        return touched + attribute_fixes(path, info, wanted_mode, user, group)

    forcing = _Forcing(force, force_backup, force_backup_dir)
    yield from _ensure_path("file", path, info, present, forcing, create, fixes)


@operation()
def link(
    path: str,
    target: str | None = None,
    present: bool = True,
    user: str | None = None,
    group: str | None = None,
    symbolic: bool = True,
    create_remote_dir: bool = True,
    force: bool = False,
    force_backup: bool = True,
    force_backup_dir: str | None = None,
) -> Commands:
    """Ensure ``path`` is a link to ``target`` (or is not a link).

    A link pointing elsewhere is replaced; ownership applies to the link itself.
    """
    path = check_path(path)
    if present and not target:
        raise OperationError("files.link: `target` is required when present=True")
    make = StringCommand("ln -s" if symbolic else "ln", QuoteString(target), QuoteString(path))

    def create() -> Commands:
        if create_remote_dir:
            yield from ensure_parent_dir(path, user, group)
        yield make
        yield from attribute_fixes(path, None, None, user, group, dereference=False)

    def fixes(info: dict) -> list[StringCommand]:
        relink = [StringCommand("rm", "-f", QuoteString(path)), make]
        redo = relink if info.get("link_target") != target else []
        return redo + attribute_fixes(path, info, None, user, group, dereference=False)

    info = host.get_fact(Link, path=path)
    forcing = _Forcing(force, force_backup, force_backup_dir)
    yield from _ensure_path("link", path, info, present, forcing, create, fixes)




def read_path(path: str, checksum: bool, parent: bool) -> tuple[Any, str | None, Any]:
    """File of `path`, its SHA-256 (if `checksum`) and, if `parent` and nothing is at
    `path`, its parent's Directory fact (else UNREAD): one command (PathState)."""
    parent_path = parent_dir(path) if parent else None
    if not checksum and parent_path is None:
        return host.get_fact(File, path=path), None, UNREAD
    info, digest, parent_info = host.get_fact(
        PathState, path=path, checksum=checksum, parent=parent_path
    )
    if parent_path is None or info is not None:
        parent_info = UNREAD
    return info, digest, parent_info
