"""files operations: files, directories, links, uploads, templates and single lines.

Each one reads the path's current state first and yields only what differs, so a second run
changes nothing. Uploads compare checksums, and record a unified diff of text content so that
``plan`` can show what would change.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

from agent.catalogue.facts.files import (
    Block,
    Directory,
    File,
    FindInFile,
    Link,
    PathState,
    block_markers,
)
from agent.catalogue.facts.server import Date
from agent.catalogue.operations.util.files import (
    SedEdit,
    adjust_regex,
    attribute_fixes,
    backup_suffix,
    block_create,
    block_edit,
    chmod,
    chown,
    ensure_mode_int,
    escape_bre,
    read_file_like,
    sed_delete,
    sed_replace,
    strip_regex_anchors,
    touch_time,
    unix_path_join,
)
from agent.catalogue.operations.util.templates import render_template
from agent.engine.command import Commands, FileUploadCommand, QuoteString, StringCommand
from agent.engine.context import host
from agent.engine.fact import FactError
from agent.engine.operation import operation
from agent.engine.operation_errors import (
    OperationError,
    OperationTypeError,
    OperationValueError,
)

# Text larger than this is uploaded without a diff: a diff that size helps nobody.
MAX_DIFF_BYTES = 512 * 1024


def _check_path(path: Any, argument: str = "path") -> str:
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


_UNREAD: Any = object()


def _parent_dir(path: str) -> str | None:
    parent = posixpath.dirname(path.rstrip("/"))
    return parent if parent and parent != path else None


def _ensure_parent_dir(
    path: str, user: str | None, group: str | None, info: Any = _UNREAD
) -> Commands:
    """Create the parent directory if missing; an existing one (or a link to one) is kept.

    `info` is the parent's Directory fact when the caller read it already (with get_facts).
    """
    parent = _parent_dir(path)
    if parent is None:
        return
    if info is _UNREAD:
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
    path = _check_path(path)
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
    path = _check_path(path)
    wanted_mode = ensure_mode_int(mode)
    info, _, parent = _read_path(path, checksum=False, parent=present and create_remote_dir)
    if info is False and not present and host.get_fact(Link, path=path):
        # Unlike pyinfra, which refuses: "no file here" is met by removing a symlink (nginx's
        # sites-enabled/default is one on Debian); its target is left alone.
        yield StringCommand("rm", "-f", QuoteString(path))
        return

    def create() -> Commands:
        if create_remote_dir:
            yield from _ensure_parent_dir(path, user, group, parent)
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
    path = _check_path(path)
    if present and not target:
        raise OperationError("files.link: `target` is required when present=True")
    make = StringCommand("ln -s" if symbolic else "ln", QuoteString(target), QuoteString(path))

    def create() -> Commands:
        if create_remote_dir:
            yield from _ensure_parent_dir(path, user, group)
        yield make
        yield from attribute_fixes(path, None, None, user, group, dereference=False)

    def fixes(info: dict) -> list[StringCommand]:
        relink = [StringCommand("rm", "-f", QuoteString(path)), make]
        redo = relink if info.get("link_target") != target else []
        return redo + attribute_fixes(path, info, None, user, group, dereference=False)

    info = host.get_fact(Link, path=path)
    forcing = _Forcing(force, force_backup, force_backup_dir)
    yield from _ensure_path("link", path, info, present, forcing, create, fixes)


def _read_source(src: Any, add_deploy_dir: bool, assume_exists: bool) -> tuple[Any, bytes | None]:
    """What to upload (bytes, or a local Path read at upload time) and its bytes if known."""
    if isinstance(src, bytes):
        return src, src
    if hasattr(src, "read"):
        data = read_file_like(src)
        return data, data
    local = host.local_path(str(src)) if add_deploy_dir else Path(src)
    if local.is_file():
        return local, local.read_bytes()
    if assume_exists:
        return local, None
    raise OperationError(f"files.put: no such local file: {local}")


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


def _read_path(path: str, checksum: bool, parent: bool) -> tuple[Any, str | None, Any]:
    """File of `path`, its SHA-256 (if `checksum`) and, if `parent` and nothing is at
    `path`, its parent's Directory fact (else _UNREAD): one command (PathState)."""
    parent_path = _parent_dir(path) if parent else None
    if not checksum and parent_path is None:
        return host.get_fact(File, path=path), None, _UNREAD
    info, digest, parent_info = host.get_fact(
        PathState, path=path, checksum=checksum, parent=parent_path
    )
    if parent_path is None or info is not None:
        parent_info = _UNREAD
    return info, digest, parent_info


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


@operation()
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
    dest = _check_path(dest, "dest")
    upload, data = _read_source(src, add_deploy_dir, assume_exists)
    wanted_mode = ensure_mode_int(mode)
    times = {"atime": atime, "mtime": mtime}

    compare = not force and data is not None
    remote, remote_sum, parent = _read_path(dest, compare, create_remote_dir)
    # Only something that is not a regular file (False) can be a directory; None is nothing.
    if remote is False and host.get_fact(Directory, path=dest):
        if isinstance(upload, bytes):
            raise OperationTypeError(
                "files.put: when `src` is a file-like object, `dest` must be a file path, "
                f"not the directory {dest}"
            )
        dest = unix_path_join(dest, Path(upload).name)
        remote, remote_sum, parent = _read_path(dest, compare, parent=False)

    if create_remote_dir and remote is None:
        # Anything at dest means its parent is a directory (or a link to one) already, so
        # there is nothing to ensure then.
        yield from _ensure_parent_dir(dest, user, group, parent)

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


@operation()
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
    rendered = render_template(source, context, search_path, jinja_env_kwargs, host.memo)
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


def _append_line(path: str, text: str, ensure_newline: bool, interpolate: bool) -> StringCommand:
    """printf, not echo: dash's echo would turn backslashes in the line into escapes."""
    value: Any = f'"{text}"' if interpolate else QuoteString(text)
    quoted = QuoteString(path)
    write = StringCommand("printf '%s\\n'", value)
    if not ensure_newline:
        return StringCommand(write, ">>", quoted)
    # Add a newline first only when the file is non-empty and does not end with one.
    guard = StringCommand(
        "{ test ! -s", quoted, '|| test -z "$(tail -c1', quoted, ')" || echo;'
    )
    return StringCommand(guard, write, "; } >>", quoted)


def _lines_matching(
    path: str, pattern: str, interpolate_variables: bool, extended_regex: bool
) -> list[str] | None:
    """The lines of ``path`` that match ``pattern`` (None: no such file), as files.line reads
    them both for its own pattern and for the replacement it may find there already."""
    return host.get_fact(
        FindInFile,
        path=path,
        pattern=pattern,
        interpolate_variables=interpolate_variables,
        extended_regex=extended_regex,
    )


@operation()
def line(
    path: str,
    line: str,
    present: bool = True,
    replace: str | None = None,
    flags: list[str] | None = None,
    backup: bool | str = False,
    interpolate_variables: bool = False,
    escape_regex_characters: bool = False,
    ensure_newline: bool = False,
    extended_regex: bool = False,
) -> Commands:
    """Ensure a line matching ``line`` (a regex, widened to the whole line) is in a file.

    Missing: the line (or ``replace``) is appended. Present with ``replace``: matching lines
    are rewritten to ``replace``. ``present=False`` deletes matching lines. ``^``/``$`` anchors
    are used for matching only and never written to the file. ``ensure_newline`` first
    ends a last line that has no newline, so the appended line does not join it.
    """
    path = _check_path(path)
    match_line = adjust_regex(line, escape_regex_characters)
    found = _lines_matching(path, match_line, interpolate_variables, extended_regex)
    text = replace or (line if escape_regex_characters else strip_regex_anchors(line))
    edit = SedEdit(flags, backup, extended_regex, interpolate_variables)

    if not present:
        if found:
            yield sed_delete(path, match_line, edit)
        else:
            host.noop(f'line "{line}" is not in {path}')
        return

    if not found:
        if replace:
            # The replacement may already be there (it need not match `line`).
            pattern = "^" + (replace if interpolate_variables else escape_bre(replace)) + "$"
            found = _lines_matching(path, pattern, interpolate_variables, extended_regex=False)
        if found:
            host.noop(f'line "{text}" exists in {path}')
            return
        if backup and found is not None:
            suffix = backup if isinstance(backup, str) else backup_suffix()
            yield StringCommand("cp", QuoteString(path), QuoteString(f"{path}.{suffix}"))
        yield _append_line(path, text, ensure_newline, interpolate_variables)
        return

    if replace and any(existing != replace for existing in found):
        yield sed_replace(path, match_line, replace, edit)
    else:
        host.noop(f'line "{text}" exists in {path}')




@operation()
def replace(
    path: str,
    text: str | None = None,
    replace: str | None = None,
    flags: list[str] | None = None,
    backup: bool | str = False,
    interpolate_variables: bool = False,
    extended_regex: bool = False,
    match: str | None = None,
) -> Commands:
    """Replace what matches ``text`` (a sed regex, within lines) with ``replace``.

    sed runs only when grep finds a match, or when there is no file yet: an earlier
    operation of the same run may create it. ``match`` is the old name of ``text``.
    """
    path = _check_path(path)
    if text is None:
        text = match
    if text is None or replace is None:
        missing = "text" if text is None else "replace"
        raise OperationValueError(
            f"files.replace needs `{missing}`: e.g. text='verboten', replace='forbidden'"
        )
    found = host.get_fact(
        FindInFile,
        path=path,
        pattern=text,
        interpolate_variables=interpolate_variables,
        extended_regex=extended_regex,
    )
    if found is None or found:
        yield sed_replace(
            path, text, replace, SedEdit(flags, backup, extended_regex, interpolate_variables)
        )
    else:
        host.noop(f'string "{text}" does not exist in {path}')


def _block_placement(line: str | None, before: bool, after: bool) -> None:
    if line:
        if before == after:
            raise OperationValueError(
                "files.block: with `line`, pass exactly one of before=True or after=True"
            )
    elif before != after:
        raise OperationValueError(
            "files.block: pass `line` to put the block before or after it; without one, "
            "before=True with after=True puts it first and neither puts it last"
        )


@operation()
def block(
    path: str,
    content: str | list[str] | None = None,
    present: bool = True,
    line: str | None = None,
    backup: bool = False,
    escape_regex_characters: bool = False,
    try_prevent_shell_expansion: bool = False,
    before: bool = False,
    after: bool = False,
    marker: str | None = None,
    begin: str | None = None,
    end: str | None = None,
) -> Commands:
    """Keep ``content`` between two marker lines in a file (or remove the marked block).

    A missing block goes before or after the first line matching ``line`` (an extended
    regex, widened to the whole line as files.line does; at the end when no line matches),
    or first (before=after=True) or last (both False). A missing file is created holding the
    block. Content is always written literally, so ``try_prevent_shell_expansion`` (pyinfra
    deprecated it too) changes nothing. An edit keeps the file's owner and mode.
    """
    path = _check_path(path)
    try:
        markers = block_markers(marker, begin, end)
    except FactError as exc:
        raise OperationValueError(f"files.block: {exc}") from None
    if present:
        if not content:
            raise OperationValueError("files.block: `content` is required when present=True")
        _block_placement(line, before, after)
        if line is not None and not isinstance(line, str):
            raise OperationTypeError(f"files.block: `line` must be a regex string, got {line!r}")
    lines = content.split("\n") if isinstance(content, str) else list(content or [])

    current = host.get_fact(Block, path=path, marker=marker, begin=begin, end=end)
    backup_first = (
        [StringCommand("cp", QuoteString(path), QuoteString(f"{path}.{backup_suffix()}"))]
        if backup and current is not None
        else []
    )

    if not present:
        if current is None:
            host.noop("no remove required: file did not exist")
        elif current == []:
            host.noop("no remove required: markers not found")
        else:
            yield from backup_first
            yield block_edit(path, "remove", markers)
        return

    marked = "\n".join([markers[0], *lines, markers[1]])
    if current is None:
        yield block_create(path, [markers[0], *lines, markers[1]])
    elif current == []:
        yield from backup_first
        if line:
            regex = adjust_regex(line, escape_regex_characters)
            yield block_edit(path, "before" if before else "after", markers, marked, regex)
        else:
            yield block_edit(path, "prepend" if before else "append", markers, marked)
    elif current != lines:
        yield from backup_first
        yield block_edit(path, "replace", markers, "\n".join(lines))
    else:
        host.noop("content already present")
