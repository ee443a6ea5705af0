"""files operations that move whole files between places: files.download (a URL fetched by
the host), files.get (a host's file fetched to this machine) and files.sync (a local tree
mirrored onto the host).

files.rsync runs the rsync binary on this machine, over ssh to the host built from the
host's ssh_* data as pyinfra's ssh connector does, or on the host itself for @local."""

from __future__ import annotations

import hashlib
import os
import shlex
import stat
import subprocess
from datetime import datetime, timedelta
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from agent.catalogue.facts.files import (
    File,
    FindFiles,
    FindLinks,
    Link,
    Md5File,
    Sha1File,
    Sha256File,
    Sha384File,
)
from agent.catalogue.facts.server import Date, Which
from agent.catalogue.operations.files._paths import check_path, directory, file, link
from agent.catalogue.operations.files._uploads import put
from agent.catalogue.operations.util.files import (
    chmod,
    chown,
    ensure_mode_int,
    owner_differs,
    unix_path_join,
)
from agent.engine.command import Commands, FunctionCommand, QuoteString, StringCommand
from agent.engine.context import host
from agent.engine.operation import operation
from agent.engine.operation_errors import OperationError, OperationValueError

__all__ = ["download", "get", "rsync", "sync"]

DEFAULT_TEMP_DIR = "/tmp"

# name, fact, the shell tools tried in turn on the host, the message when none matches
_CHECKSUMS: tuple[tuple[str, Any, tuple[str, ...], str], ...] = (
    ("sha1sum", Sha1File, ("sha1sum", "shasum", "sha1"), "SHA1 did not match!"),
    ("sha256sum", Sha256File, ("sha256sum", "shasum -a 256", "sha256"), "SHA256 did not match!"),
    ("sha384sum", Sha384File, ("sha384sum", "shasum -a 384"), "SHA384 did not match!"),
    ("md5sum", Md5File, ("md5sum", "md5"), "MD5 did not match!"),
)


def _temp_dir(temp_dir: str | Path | None) -> str:
    """The operation's own ``temp_dir``, else the ``_temp_dir`` global argument, else /tmp."""
    if temp_dir is None:
        current = getattr(host, "current", None)
        temp_dir = (current.args.get("_temp_dir") if current is not None else None) or None
    return str(temp_dir or DEFAULT_TEMP_DIR).rstrip("/") or "/"


def _temp_file(dest: str, temp_dir: str | Path | None) -> str:
    """A name fixed by ``dest``, so a plan and its run name the same file."""
    digest = hashlib.sha1(dest.encode()).hexdigest()
    return unix_path_join(_temp_dir(temp_dir), f"pullinfra-{digest}")


def _is_stale(info: dict, cache_time: int) -> bool:
    """The file is older than ``cache_time`` seconds by the host's clock (File's times are
    naive, in the host's timezone, as the Date fact is once its tzinfo is dropped)."""
    now = host.get_fact(Date).replace(tzinfo=None)
    try:
        oldest = now - timedelta(seconds=cache_time)
    except OverflowError:
        oldest = datetime.min if cache_time > 0 else datetime.max
    return bool(info.get("mtime") and info["mtime"] < oldest)


def _options(pairs: dict[str, str] | None) -> list[Any]:
    return [StringCommand(key, QuoteString(value)) for key, value in (pairs or {}).items()]


def _fetch_command(
    src: str,
    temp_file: str,
    headers: dict[str, str] | None,
    insecure: bool,
    proxy: str | None,
    limit_rate: str | None,
    extra_curl_args: dict[str, str] | None,
    extra_wget_args: dict[str, str] | None,
) -> StringCommand:
    """curl if the host has it, else wget, else try one then the other; wget leaves a
    partial file behind on failure, so its command removes it."""
    curl: list[Any] = ["-sSLf", *_options(extra_curl_args)]
    wget: list[Any] = ["-q", *_options(extra_wget_args)]
    if proxy:
        curl.append(f"--proxy {proxy}")
        wget += ["-e use_proxy=yes", f"-e http_proxy={proxy}"]
    if insecure:
        curl.append("--insecure")
        wget.append("--no-check-certificate")
    if limit_rate:
        for args in (curl, wget):
            args.append(StringCommand("--limit-rate", QuoteString(limit_rate)))
    for key, value in (headers or {}).items():
        for args in (curl, wget):
            args.append(StringCommand("--header", QuoteString(f"{key}: {value}")))
    url, temp = QuoteString(src), QuoteString(temp_file)
    with_curl = StringCommand("curl", *curl, url, "-o", temp)
    with_wget = StringCommand(
        "wget", *wget, url, "-O", temp, "||", "(", "rm", "-f", temp, ";", "exit", "1", ")"
    )
    if host.get_fact(Which, command="curl"):
        return with_curl
    if host.get_fact(Which, command="wget"):
        return with_wget
    return StringCommand("(", with_curl, ")", "||", "(", with_wget, ")")


def _verify_command(
    fetched: str, tools: tuple[str, ...], digest: str, message: str
) -> StringCommand:
    """Fail the operation unless one of the host's checksum tools prints ``digest`` for the
    fetched temporary file, which a mismatch removes: a file that fails its checksum never
    reaches ``dest`` (pyinfra moves it there first and leaves it)."""
    path = QuoteString(fetched)
    tries: list[Any] = []
    for index, tool in enumerate(tools):
        if index:
            tries.append("||")
        tries += [tool, path]
        if index == 0:
            tries.append("2> /dev/null")
    return StringCommand(
        "((", *tries, ")", "|", "grep", digest, ")", "||", "(", "rm", "-f", path, ";",
        "echo", QuoteString(message), "&&", "exit", "1", ")",
    )


@operation()
def download(
    src: str,
    dest: str,
    user: str | None = None,
    group: str | None = None,
    mode: int | str | None = None,
    cache_time: int | None = None,
    force: bool = False,
    sha384sum: str | None = None,
    sha256sum: str | None = None,
    sha1sum: str | None = None,
    md5sum: str | None = None,
    headers: dict[str, str] | None = None,
    insecure: bool = False,
    proxy: str | None = None,
    limit_rate: str | None = None,
    temp_dir: str | Path | None = None,
    extra_curl_args: dict[str, str] | None = None,
    extra_wget_args: dict[str, str] | None = None,
) -> Commands:
    """Have the host fetch ``src`` with curl or wget into ``dest``, through a temporary file
    so that a failed fetch leaves an existing ``dest`` alone.

    An existing ``dest`` is fetched again when ``force``, when older than ``cache_time``
    seconds, or when a checksum given differs; else only its owner and mode are fixed.
    """
    if not isinstance(src, str) or not src:
        raise OperationValueError(f"files.download: pass `src` as a URL string, got {src!r}")
    dest = check_path(dest, "dest")
    if cache_time is not None and (isinstance(cache_time, bool)
                                   or not isinstance(cache_time, int | float)):
        raise OperationValueError(
            f"files.download: pass `cache_time` as a number of seconds, got {cache_time!r}"
        )
    mode = ensure_mode_int(mode)
    sums = {"sha1sum": sha1sum, "sha256sum": sha256sum, "sha384sum": sha384sum, "md5sum": md5sum}
    info = host.get_fact(File, path=dest)
    if info is False:
        raise OperationError(f"Destination {dest} already exists and is not a file")

    fetch = bool(force) or info is None
    if info is not None:
        if cache_time and _is_stale(info, int(cache_time)):
            fetch = True
        for name, fact, _tools, _message in _CHECKSUMS:
            wanted = sums[name]
            if wanted and str(wanted).lower() != host.get_fact(fact, path=dest):
                fetch = True

    if not fetch:
        fixes = []
        if owner_differs(info, user, group):
            fixes.append(chown(dest, user, group))
        if mode and info["mode"] != mode:
            fixes.append(chmod(dest, mode))
        if not fixes:
            host.noop(f"file {dest} has already been downloaded")
        yield from fixes
        return

    temp_file = _temp_file(dest, temp_dir)
    yield _fetch_command(src, temp_file, headers, insecure, proxy, limit_rate,
                         extra_curl_args, extra_wget_args)
    for name, _fact, tools, message in _CHECKSUMS:
        if sums[name]:
            yield _verify_command(temp_file, tools, str(sums[name]).lower(), message)
    yield StringCommand("mv", QuoteString(temp_file), QuoteString(dest))
    if user or group:
        yield chown(dest, user, group)
    if mode:
        yield chmod(dest, mode)


def _sha1_of(path: Path) -> str:
    digest = hashlib.sha1()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fetch_to_local(src: str, dest: str, create_local_dir: bool) -> None:
    """Runs at execute time, so that a plan writes nothing on this machine."""
    data = host.get_file(src)
    if data is None:
        raise OperationError(f"files.get: could not read {src} from the host")
    local = host.local_path(dest, add_deploy_dir=False)  # checked again as it is written
    if create_local_dir:
        local.parent.mkdir(parents=True, exist_ok=True)
    partial = local.with_name(f".{local.name}.pullinfra-partial")
    # A fresh file, never through whatever has that name already (a committed symlink
    # would carry the write outside the root: agent/engine/local_paths.py).
    partial.unlink(missing_ok=True)
    handle = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    os.replace(partial, local)


@operation(local_paths=("dest",))
def get(
    src: str,
    dest: str,
    add_deploy_dir: bool = True,
    create_local_dir: bool = False,
    force: bool = False,
) -> Commands:
    """Copy the host's ``src`` to ``dest`` on this machine (relative to the deploy directory
    unless ``add_deploy_dir=False``), unless both already hold the same bytes (sha1).

    A missing remote file is fetched "blind", as pyinfra does: the fetch then fails."""
    src = check_path(src, "src")
    dest = check_path(dest, "dest")
    local = host.local_path(dest, add_deploy_dir)
    remote = host.get_fact(File, path=src)
    unchanged = (remote and not force and local.is_file()
                 and host.get_fact(Sha1File, path=src) == _sha1_of(local))
    if unchanged:
        host.noop(f"file {local} has already been downloaded")
        return
    yield FunctionCommand(_fetch_to_local, (src, str(local), create_local_dir))


def _permissions(path: str | Path) -> str:
    """A local path's permission bits as the three octal digits chmod takes."""
    return f"{stat.S_IMODE(os.stat(path).st_mode):03o}"[-3:]


def _as_list(value: Any, argument: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return list(value)
    raise OperationValueError(
        f"files.sync: pass `{argument}` as a glob string or a list of them, got {value!r}"
    )


def _walk(
    src: Path, dest: str, exclude: list[str], exclude_dir: list[str]
) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
    """(local file, remote file), (remote link, target) and (remote dir, mode) pairs of the
    local tree. ``exclude`` matches a file's full local path, ``exclude_dir`` a directory's
    path relative to ``src``; symlinks are copied as links and never followed."""
    files: list[tuple[str, str]] = []
    links: list[tuple[str, str]] = []
    dirs: list[tuple[str, str]] = []

    def remote(*parts: str) -> str:
        return unix_path_join(*[part for part in (dest, *parts) if part and part != "."])

    for dirpath, dirnames, filenames in os.walk(src, topdown=True, followlinks=False):
        here = Path(dirpath)
        relative = here.relative_to(src).as_posix()
        for child in list(dirnames):
            if any(fnmatch((here / child).relative_to(src).as_posix(), glob)
                   for glob in exclude_dir):
                dirnames.remove(child)
            elif (here / child).is_symlink():
                links.append((remote(relative, child), os.readlink(here / child)))
                dirnames.remove(child)
        if relative != ".":
            dirs.append((relative, _permissions(here)))
        for name in filenames:
            full = here / name
            if any(fnmatch(str(full), glob) for glob in exclude):
                continue
            if full.is_symlink():
                links.append((remote(relative, name), os.readlink(full)))
            else:
                files.append((str(full), remote(relative, name)))
    return files, links, dirs


@operation(local_paths=("src",))
def sync(
    src: str,
    dest: str,
    user: str | None = None,
    group: str | None = None,
    mode: str | None = None,
    dir_mode: str | None = None,
    delete: bool = False,
    exclude: str | list[str] | tuple[str, ...] | None = None,
    exclude_dir: str | list[str] | tuple[str, ...] | None = None,
    add_deploy_dir: bool = True,
) -> Commands:
    """Mirror a local directory onto the host, one files.directory/link/put per entry, so
    only what differs is sent; ``delete`` removes remote files and links the tree lacks
    (directories are left, as pyinfra leaves them)."""
    dest = check_path(dest, "dest")
    local = host.local_path(str(src), add_deploy_dir)
    if not local.is_dir():
        raise OperationValueError(f"files.sync: no such local directory: {src}")
    excluded = _as_list(exclude, "exclude")
    files, links, dirs = _walk(local, dest, excluded, _as_list(exclude_dir, "exclude_dir"))

    dest_link = host.get_fact(Link, path=dest)
    top = dest_link["link_target"] if dest_link else dest
    yield from directory._inner(path=top, user=user, group=group,
                                mode=dir_mode or mode or _permissions(local))
    for relative, local_mode in dirs:
        yield from directory._inner(path=unix_path_join(dest, relative), user=user, group=group,
                                    mode=dir_mode or mode or local_mode)
    for remote_link, target in links:
        yield from link._inner(path=remote_link, target=target, user=user, group=group,
                               create_remote_dir=False)
    for local_file, remote_file in files:
        yield from put._inner(src=local_file, dest=remote_file, user=user, group=group,
                              mode=mode or _permissions(local_file), add_deploy_dir=False,
                              create_remote_dir=False)
    if not delete:
        return
    wanted_files = {remote_file for _local, remote_file in files}
    wanted_links = {remote_link for remote_link, _target in links}
    for extra in sorted(set(host.get_fact(FindFiles, path=dest) or []) - wanted_files):
        if not any(fnmatch(extra, glob) for glob in excluded):
            yield from file._inner(path=extra, present=False)
    for extra in sorted(set(host.get_fact(FindLinks, path=dest) or []) - wanted_links):
        if not any(fnmatch(extra, glob) for glob in excluded):
            yield from link._inner(path=extra, present=False)


def _rsync_over_ssh(src: str, dest: str, flags: list[str]) -> str:
    """The local rsync command line for an ssh host, from the same data pyinfra reads."""
    data = host.data
    target = data.get("ssh_hostname") or host.name
    user = data.get("ssh_user")
    ssh = ["ssh", "-o", "BatchMode=yes"]
    for option, key in (("UserKnownHostsFile", "ssh_known_hosts_file"),
                        ("StrictHostKeyChecking", "ssh_strict_host_key_checking")):
        if data.get(key):
            ssh += ["-o", f"{option}={data.get(key)}"]
    if data.get("ssh_config_file"):
        ssh += ["-F", str(data.get("ssh_config_file"))]
    if data.get("ssh_port"):
        ssh += ["-p", str(data.get("ssh_port"))]
    if data.get("ssh_key"):
        ssh += ["-i", str(data.get("ssh_key"))]
    current = getattr(host, "current", None)
    args = current.args if current is not None else {}
    remote = "rsync"
    if args.get("_sudo"):
        remote = f"sudo -u {args['_sudo_user']} rsync" if args.get("_sudo_user") else "sudo rsync"
    return shlex.join(["rsync", *flags, "--rsh", shlex.join(ssh), "--rsync-path", remote,
                       src, f"{user + '@' if user else ''}{target}:{dest}"])


def _run_local(command: str) -> None:
    """Runs at execute time on this machine; a failure carries rsync's own message."""
    done = subprocess.run(command, shell=True, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise OperationError(f"rsync failed ({done.returncode}): {done.stderr.strip()}")


@operation(is_idempotent=False, local_paths=("src",))
def rsync(src: str, dest: str, flags: list[str] | None = None) -> Commands:
    """Mirror ``src`` onto the host with this machine's rsync (default flags ``-ax --delete``);
    it always counts as a change, as in pyinfra, which cannot tell what rsync did."""
    src = check_path(src, "src")
    dest = check_path(dest, "dest")
    if flags is None:
        flags = ["-ax", "--delete"]
    if not isinstance(flags, list | tuple) or not all(isinstance(f, str) for f in flags):
        raise OperationValueError(f"files.rsync: pass `flags` as a list of strings, got {flags!r}")
    if host.name.startswith("@local"):
        yield StringCommand("rsync", " ".join(flags), src, dest)
        return
    yield FunctionCommand(_run_local, (_rsync_over_ssh(_local_source(src), dest, list(flags)),))


def _local_source(src: str) -> str:
    """A relative source from the project root, as files.put finds its sources (the agent's
    own working directory is not the checkout); rsync's trailing slash, which means "the
    directory's contents", is kept."""
    found = str(host.local_path(src))
    return found + "/" if src.endswith("/") and not found.endswith("/") else found
