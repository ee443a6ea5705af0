"""files operations that upload: files.put and files.template.

Uploads compare checksums, and record a unified diff of text content so that ``plan`` can show
what would change."""

from __future__ import annotations

import hashlib
import inspect
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from agent.catalogue.facts.files import (
    Directory,
    File,
)
from agent.catalogue.facts.server import Date
from agent.catalogue.operations.files._paths import (
    check_path,
    ensure_parent_dir,
    read_path,
)
from agent.catalogue.operations.util.files import (
    attribute_fixes,
    chmod,
    chown,
    ensure_mode_int,
    read_file_like,
    touch_time,
    unix_path_join,
)
from agent.catalogue.operations.util.templates import render_template
from agent.engine.command import Commands, FileUploadCommand, StringCommand
from agent.engine.context import host
from agent.engine.operation import operation
from agent.engine.operation_errors import (
    OperationError,
    OperationTypeError,
    OperationValueError,
)

__all__ = ["put", "template"]

# Text larger than this is uploaded without a diff: a diff that size helps nobody.
MAX_DIFF_BYTES = 512 * 1024


def _read_source(src: Any, add_deploy_dir: bool, assume_exists: bool) -> tuple[Any, bytes | None]:
    """What to upload (bytes, or a local Path read at upload time) and its bytes if known."""
    if isinstance(src, bytes):
        return src, src
    if hasattr(src, "read"):
        data = read_file_like(src)
        return data, data
    local = host.local_path(str(src), add_deploy_dir)
    if local.is_file():
        return local, _local_bytes(local)
    if assume_exists:
        return local, None
    raise OperationError(f"files.put: no such local file: {local}")


def _local_bytes(local: Path) -> bytes:
    """A local file's bytes, read once per run for all hosts while it stays the same file:
    a deploy that writes it mid-run (files.get) changes its size or time, and so the key."""
    stat = local.stat()
    key = ("files.put source", str(local), stat.st_mtime_ns, stat.st_size, stat.st_ino)
    return host.memo(key, local.read_bytes)


def _text_or_none(data: bytes | None) -> str | None:
    if data is None or len(data) > MAX_DIFF_BYTES:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _record_upload_diff(dest: str, new: bytes | None, exists: bool) -> None:
    after = _text_or_none(new)
    if after is None:
        return
    before: str | None = None
    if exists:
        before = _text_or_none(host.get_file(dest))
        if before is None:
            return
    host.record_diff(dest, before, after)



TimeSpec = datetime | float | int | str | bool | None


def _wanted_time(field: str, src: Any, spec: TimeSpec) -> datetime:
    """The aware datetime files.put's ``atime``/``mtime`` asks for.

    True: the local file's own; a datetime or an ISO string (naive ones are in the host's
    timezone); a POSIX timestamp (number or numeric string); else the path of a file on the
    host whose time to copy, as ``touch -r`` does.
    """
    if isinstance(spec, datetime):
        return spec if spec.tzinfo else spec.replace(tzinfo=host.get_fact(Date).tzinfo)
    if spec is True:
        if isinstance(src, bytes):
            raise OperationValueError(
                f"files.put: {field}=True copies the local file's {field}, but `src` is not "
                "a local file: pass a datetime, a timestamp or a remote path"
            )
        local = os.stat(src)
        return datetime.fromtimestamp(getattr(local, f"st_{field}"), UTC)
    if isinstance(spec, int | float):
        return datetime.fromtimestamp(spec, UTC)
    if isinstance(spec, str) and spec:
        try:
            parsed = datetime.fromisoformat(spec)
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(
                tzinfo=host.get_fact(Date).tzinfo
            )
        try:
            return datetime.fromtimestamp(float(spec), UTC)
        except ValueError:
            pass
        reference = host.get_fact(File, path=spec)
        if reference:
            return reference[field].replace(tzinfo=UTC)
    raise OperationValueError(
        f"files.put: cannot read {field}={spec!r}: pass True, a datetime, an ISO date, a "
        "POSIX timestamp or the path of an existing file on the host"
    )


def _times_differ(wanted: datetime, current: datetime) -> bool:
    """pyinfra's test: a second or more apart, or a different seconds digit."""
    seen = current.replace(tzinfo=UTC).astimezone(wanted.tzinfo)
    return abs((seen - wanted).total_seconds()) >= 1.0 or seen.second != wanted.second


def _time_fixes(
    dest: str, src: Any, remote: dict | None, times: dict[str, TimeSpec]
) -> list[StringCommand]:
    """touch commands for the wanted times (mtime first: setting it must not undo atime),
    only those that differ from ``remote`` (None: a file being uploaded now)."""
    fixes = []
    for field in ("mtime", "atime"):
        spec = times[field]
        if spec is None or spec is False:
            continue
        wanted = _wanted_time(field, src, spec)
        if remote is None or _times_differ(wanted, remote[field]):
            fixes.append(touch_time(dest, field, wanted))
    return fixes


@operation(local_paths=("src",))
def put(
    src: str | IO[Any],
    dest: str,
    user: str | None = None,
    group: str | None = None,
    mode: int | str | None = None,
    add_deploy_dir: bool = True,
    create_remote_dir: bool = True,
    force: bool = False,
    assume_exists: bool = False,
    atime: TimeSpec = None,
    mtime: TimeSpec = None,
) -> Commands:
    """Upload a local file (relative to the deploy file) or a file-like object to ``dest``.

    The upload happens only when the remote sha256 differs (or ``force``). If ``dest`` is an
    existing directory, the file keeps its name inside it. ``atime``/``mtime`` (see
    _wanted_time) are set after the upload, and on an unchanged file only when they differ.
    """
    dest = check_path(dest, "dest")
    upload, data = _read_source(src, add_deploy_dir, assume_exists)
    wanted_mode = ensure_mode_int(mode)
    times = {"atime": atime, "mtime": mtime}

    compare = not force and data is not None
    remote, remote_sum, parent = read_path(dest, compare, create_remote_dir)
    # Only something that is not a regular file (False) can be a directory; None is nothing.
    if remote is False and host.get_fact(Directory, path=dest):
        if isinstance(upload, bytes):
            raise OperationTypeError(
                "files.put: when `src` is a file-like object, `dest` must be a file path, "
                f"not the directory {dest}"
            )
        dest = unix_path_join(dest, Path(upload).name)
        remote, remote_sum, parent = read_path(dest, compare, parent=False)

    if create_remote_dir and remote is None:
        # Anything at dest means its parent is a directory (or a link to one) already, so
        # there is nothing to ensure then.
        yield from ensure_parent_dir(dest, user, group, parent)

    same = bool(remote) and compare and remote_sum == hashlib.sha256(data).hexdigest()

    if not same:
        _record_upload_diff(dest, data, exists=bool(remote))
        yield FileUploadCommand(upload, dest)
        if user or group:
            yield chown(dest, user, group)
        if wanted_mode is not None:
            yield chmod(dest, wanted_mode)
        yield from _time_fixes(dest, upload, None, times)
        return

    assert remote
    fixes = attribute_fixes(dest, remote, wanted_mode, user, group)
    fixes += _time_fixes(dest, upload, remote, times)
    yield from fixes
    if not fixes:
        host.noop(f"file {dest} is already uploaded")


def _unknown_global_arguments(data: dict[str, Any]) -> str:
    """Template variables named like a global argument (``_sudo_usr``): the engine has taken
    the real global arguments out already, so these are misspelt or unsupported ones."""
    names = sorted(key for key in data if key.startswith("_"))
    return ", ".join(f"`{name}`" for name in names)


class _TemplateSignature(inspect.Signature):
    """files.template takes any keyword as a template variable, so the engine's prepare-time
    check of an operation's arguments would accept an unknown ``_xxx`` that every other
    operation refuses; this signature refuses it there, at the call's file:line."""

    __slots__ = ()

    def bind(self, *args: Any, **kwargs: Any) -> inspect.BoundArguments:
        unknown = _unknown_global_arguments(kwargs)
        if unknown:
            raise TypeError(
                f"unknown global argument {unknown} (a template variable may not start with _)"
            )
        return super().bind(*args, **kwargs)


@operation(local_paths=("src",))
def template(
    src: str | IO[Any],
    dest: str,
    user: str | None = None,
    group: str | None = None,
    mode: int | str | None = None,
    create_remote_dir: bool = True,
    jinja_env_kwargs: dict[str, Any] | None = None,
    **data: Any,
) -> Commands:
    """Render a Jinja2 template (StrictUndefined) and upload the result like files.put.

    The template sees ``host`` plus the extra keyword arguments. Errors name the template
    file and line.
    """
    unknown = _unknown_global_arguments(data)
    if unknown:
        # Reached through `_inner` (server.script_template), which the prepare check skips.
        raise OperationValueError(
            f"files.template: unknown global argument {unknown}; a template variable may "
            "not start with _: rename it"
        )
    source: Any = src if hasattr(src, "read") else host.local_path(str(src))
    context = {"host": host, **data}
    search_path = host.local_roots()
    rendered = render_template(source, context, search_path, jinja_env_kwargs, host.memo,
                               lambda name: host.local_path(name, add_deploy_dir=False))
    # put's own generator: the upload is part of this operation, not a second one queued.
    yield from put._inner(
        rendered.encode("utf-8"),
        dest,
        user,
        group,
        mode,
        add_deploy_dir=False,
        create_remote_dir=create_remote_dir,
    )


template._inner.__signature__ = _TemplateSignature.from_callable(  # type: ignore[attr-defined]
    template._inner  # type: ignore[attr-defined]
)
