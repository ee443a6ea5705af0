"""files operations that copy, move and unpack what is already there: files.copy, files.move,
files.flags and files.unarchive.

A pull agent runs the same deploy again and again, so copy and move look for their own earlier
result and report no change when they find it, where pyinfra copies a directory again or
fails because the moved source is gone (docs/catalogue.md, "files")."""

from __future__ import annotations

import hashlib
import posixpath
from pathlib import PurePosixPath
from typing import Any

from agent.catalogue.facts.files import (
    Directory,
    File,
    Flags,
    Link,
    SameTree,
    Sha1File,
)
from agent.catalogue.facts.server import TmpDir
from agent.catalogue.operations.files._paths import check_path
from agent.catalogue.operations.util.files import chown
from agent.engine.command import Commands, FileUploadCommand, QuoteString, StringCommand
from agent.engine.context import host
from agent.engine.operation import operation
from agent.engine.operation_errors import (
    OperationError,
    OperationTypeError,
    OperationValueError,
)

__all__ = ["copy", "flags", "move", "unarchive"]


def _kind(path: str) -> str | None:
    """"file", "directory", "link", "other" or None (nothing at ``path``)."""
    if host.get_fact(File, path=path):
        return "file"
    if host.get_fact(Directory, path=path):
        return "directory"
    if host.get_fact(Link, path=path):
        return "link"
    return None if host.get_fact(File, path=path) is None else "other"


def _into(src: str, dest: str) -> str:
    return posixpath.join(dest, PurePosixPath(src.rstrip("/")).name)


def _require_directory(dest: str) -> None:
    if not host.get_fact(Directory, path=dest):
        raise OperationError(f"dest {dest} is not an existing directory")


def _same(kind: str, src: str, target: str) -> bool:
    if kind == "file":
        theirs = host.get_fact(Sha1File, path=target)
        return theirs is not None and theirs == host.get_fact(Sha1File, path=src)
    if kind == "link":
        return host.get_fact(Link, path=src).get("link_target") == host.get_fact(
            Link, path=target
        ).get("link_target")
    return bool(host.get_fact(SameTree, path=src, other=target))


@operation()
def copy(src: str, dest: str, overwrite: bool = False) -> Commands:
    """Copy a file, directory or link on the host into the directory ``dest``.

    A copy already there with the same content is left alone (a directory too: compared
    recursively), so a second run changes nothing. A different one is an error unless
    ``overwrite``; directories are merged, as ``cp -r`` does.
    """
    src, dest = check_path(src, "src"), check_path(dest, "dest")
    kind = _kind(src)
    if kind is None or kind == "other":
        raise OperationError(f"src {src} does not exist")
    _require_directory(dest)
    target = _into(src, dest)
    there = _kind(target)
    if there is not None and kind != "directory":
        if there != kind:
            raise OperationError(f"{target} already exists and is not a {kind}")
        if _same(kind, src, target):
            host.noop(f"{target} already exists")
            return
        if not overwrite:
            raise OperationError(f"{target} already exists and is different than src")
    elif there is not None:
        if there != "directory":
            raise OperationError(f"{target} already exists and is not a directory")
        if _same(kind, src, target):
            host.noop(f"{target} already exists")
            return
    words = ["cp -r", "-f"] if overwrite else ["cp -r"]
    yield StringCommand(*words, QuoteString(src), QuoteString(dest))


@operation()
def move(src: str, dest: str, overwrite: bool = False) -> Commands:
    """Move a file, directory or link on the host into the directory ``dest``.

    Once moved, ``src`` is gone and ``dest/<name>`` is there: that is taken as done (no
    change) rather than as an error, so the deploy can run again.
    """
    src, dest = check_path(src, "src"), check_path(dest, "dest")
    target = _into(src, dest)
    if host.get_fact(File, path=src) is None:
        if host.get_fact(Directory, path=dest) and host.get_fact(File, path=target) is not None:
            host.noop(f"{src} already moved to {target}")
            return
        raise OperationError(f"src {src} does not exist")
    _require_directory(dest)
    if host.get_fact(File, path=target) is not None:
        if not overwrite:
            raise OperationError(f"dest {target} already exists and `overwrite` is unset")
        yield StringCommand("rm", "-rf", QuoteString(target))
    yield StringCommand("mv", QuoteString(src), QuoteString(dest))


def _flag_list(value: Any) -> list[str]:
    if value is None:
        return []
    listed = value if isinstance(value, list | tuple) else [value]
    for flag in listed:
        if not isinstance(flag, str) or not flag or "," in flag:
            raise OperationValueError(
                f"files.flags: `flags` must be a flag name or a list of them, got {value!r}"
            )
    return list(listed)


@operation()
def flags(path: str, flags: str | list[str] | None = None, present: bool = True) -> Commands:
    """Set (or clear, ``present=False``) BSD file flags with chflags.

    Linux has no chflags: there the flags read as none and the chflags command fails.
    """
    path = check_path(path)
    wanted = _flag_list(flags)
    if not wanted:
        host.noop(f"no changes requested to flags for '{path}'")
        return
    current = set(host.get_fact(Flags, path=path) or [])
    change = set(wanted) - current if present else current & set(wanted)
    if not change:
        state = "set" if present else "clear"
        host.noop(f"'{path}' already has '{','.join(wanted)}' {state}")
        return
    prefix = "" if present else "no"
    yield StringCommand("chflags", ",".join(prefix + flag for flag in sorted(change)),
                        QuoteString(path))


TAR_FLAGS: dict[str, list[str]] = {
    ".tar": ["-x"],
    ".tar.gz": ["-xz"],
    ".tgz": ["-xz"],
    ".tar.bz2": ["-xj"],
    ".tbz2": ["-xj"],
    ".tar.xz": ["-xJ"],
    ".txz": ["-xJ"],
    ".tar.zst": ["-x", "--zstd"],
}
ZIP_SUFFIXES = (".zip",)


def _extractor(src: str) -> tuple[str, list[str]]:
    lower = src.lower()
    for suffix, tar_flags in TAR_FLAGS.items():
        if lower.endswith(suffix):
            return "tar", tar_flags
    if lower.endswith(ZIP_SUFFIXES):
        return "unzip", ["-o"]
    known = ", ".join([*TAR_FLAGS, *ZIP_SUFFIXES])
    raise OperationValueError(
        f"files.unarchive: unsupported archive format for {src}; pass one ending in {known}"
    )


def _upload_name(src: str) -> str:
    directory = host.get_fact(TmpDir) or "/tmp"
    return f"{directory.rstrip('/')}/pullinfra-{hashlib.sha1(src.encode()).hexdigest()}"


@operation(local_paths=lambda arguments: () if arguments["remote_src"] else ("src",))
def unarchive(
    src: str,
    dest: str,
    remote_src: bool = False,
    creates: str | None = None,
    extra_opts: list[str] | None = None,
    user: str | None = None,
    group: str | None = None,
) -> Commands:
    """Extract a tar (plain, gz, bz2, xz, zst) or zip archive into the directory ``dest``.

    The archive is local (uploaded to a temporary file, removed afterwards) unless
    ``remote_src``. Nothing tells an extracted archive from its files, so it is extracted on
    every run unless ``creates`` names a path the archive makes.
    """
    src, dest = check_path(src, "src"), check_path(dest, "dest")
    tool, tool_flags = _extractor(src)
    if extra_opts is not None and not isinstance(extra_opts, list | tuple):
        raise OperationTypeError(
            f"files.unarchive: `extra_opts` must be a list of arguments, got {extra_opts!r}"
        )
    if creates and host.get_fact(File, path=creates) is not None:
        host.noop(f"archive already extracted ({creates} exists)")
        return
    if not host.get_fact(Directory, path=dest):
        raise OperationError(f"Destination {dest} is not an existing directory")

    if remote_src:
        if host.get_fact(File, path=src) is None:
            raise OperationError(f"Remote archive {src} does not exist")
        archive = src
    else:
        local = host.local_path(src)
        if not local.is_file():
            raise OperationError(f"files.unarchive: no such local archive: {local}")
        archive = _upload_name(str(local))
        yield FileUploadCommand(local, archive)

    extras = [str(option) for option in extra_opts or []]
    if tool == "tar":
        yield StringCommand("tar", *tool_flags, *extras, "-f", QuoteString(archive),
                            "-C", QuoteString(dest))
    else:
        yield StringCommand("unzip", *tool_flags, *extras, QuoteString(archive),
                            "-d", QuoteString(dest))
    if not remote_src:
        yield StringCommand("rm", "-f", QuoteString(archive))
    if user or group:
        yield chown(dest, user, group, recursive=True)
