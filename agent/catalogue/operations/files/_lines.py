"""files operations that edit text in place: single lines, replacements and marked blocks."""

from __future__ import annotations

from typing import Any

from agent.catalogue.facts.files import (
    Block,
    FindInFile,
    block_markers,
)
from agent.catalogue.operations.files._paths import check_path
from agent.catalogue.operations.util.files import (
    SedEdit,
    adjust_regex,
    backup_suffix,
    block_create,
    block_edit,
    escape_bre,
    sed_delete,
    sed_replace,
    strip_regex_anchors,
)
from agent.engine.command import Commands, QuoteString, StringCommand
from agent.engine.context import host
from agent.engine.fact import FactError
from agent.engine.operation import operation
from agent.engine.operation_errors import (
    OperationTypeError,
    OperationValueError,
)

__all__ = ["block", "line", "replace"]

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
    path = check_path(path)
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
    path = check_path(path)
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
    path = check_path(path)
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
