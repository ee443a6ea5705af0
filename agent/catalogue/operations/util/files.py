"""Command builders for the files operations: modes, ownership, sed edits.

Every path goes through QuoteString so that a name with spaces or quotes stays one word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from agent.engine.command import QuoteString, StringCommand
from agent.engine.operation_errors import OperationError, OperationValueError


def ensure_mode_int(mode: str | int | None) -> int | str | None:
    """Normalise 644, "644", "0644" and "0o644" to the int 644 the File fact reports.

    Symbolic modes ("u+x") pass through unchanged; they are applied every run because they
    cannot be compared with the fact.
    """
    if mode is None or isinstance(mode, bool):
        return mode
    digits = str(mode).strip().lower()
    if digits.startswith("0o"):
        digits = digits[2:]
    if not digits.isdigit():
        return str(mode)
    if any(char not in "01234567" for char in digits):
        raise OperationValueError(f"invalid file mode {mode!r}: use octal digits, e.g. '0644'")
    return int(digits)


def chmod(target: str, mode: int | str, recursive: bool = False) -> StringCommand:
    flags = "chmod -R" if recursive else "chmod"
    return StringCommand(flags, str(mode), QuoteString(target))


def chown(
    target: str,
    user: str | None = None,
    group: str | None = None,
    recursive: bool = False,
    dereference: bool = True,
) -> StringCommand:
    if user and group:
        command, owner = "chown", f"{user}:{group}"
    elif user:
        command, owner = "chown", user
    elif group:
        command, owner = "chgrp", group
    else:
        raise OperationError("chown needs a user or a group")
    bits = [command]
    if recursive:
        bits.append("-R")
    if not dereference:
        bits.append("-h")
    return StringCommand(" ".join(bits), QuoteString(owner), QuoteString(target))


def owner_differs(info: dict, user: str | None, group: str | None) -> bool:
    return bool((user and info.get("user") != user) or (group and info.get("group") != group))


def attribute_fixes(
    target: str,
    info: dict | None,
    mode: int | str | None,
    user: str | None,
    group: str | None,
    recursive: bool = False,
    dereference: bool = True,
) -> list[StringCommand]:
    """chmod/chown needed to give ``target`` the wanted mode and owner; none if it has them.

    ``info`` is the path's fact, or None for a path this operation is creating, which has
    nothing wanted yet. A list rather than a generator: callers say "already so" when empty.
    """
    fixes = []
    if mode is not None and (info is None or info["mode"] != mode):
        fixes.append(chmod(target, mode, recursive=recursive))
    if (user or group) and (info is None or owner_differs(info, user, group)):
        fixes.append(chown(target, user, group, recursive=recursive, dereference=dereference))
    return fixes


def read_file_like(src: Any) -> bytes:
    """All of a file-like object's content, from the start: a deploy may hand the same
    StringIO to several operations (or to one operation on several hosts)."""
    if hasattr(src, "seek"):
        src.seek(0)
    data = src.read()
    return data.encode("utf-8") if isinstance(data, str) else data


def unix_path_join(*parts: str) -> str:
    head = [part.rstrip("/") for part in parts[:-1]]
    return "/".join([*head, parts[-1]])


def backup_suffix() -> str:
    return datetime.now().strftime("%y%m%d%H%M")


def adjust_regex(line: str, escape_regex_characters: bool = False) -> str:
    """Make ``line`` match whole lines, as pyinfra does: ``foo`` becomes ``^.*foo.*$``."""
    match_line = line
    if escape_regex_characters:
        match_line = re.sub(r"([.\\+*?\[^\]$(){}\-])", r"\\\1", line)
    if not match_line.startswith("^"):
        match_line = f"^.*{match_line}"
    if not match_line.endswith("$"):
        match_line = f"{match_line}.*$"
    return match_line


def strip_regex_anchors(line: str) -> str:
    """The literal text to append for a ``^...$`` pattern: anchors are for matching only."""
    if line.startswith("^"):
        line = line[1:]
    if line.endswith("$") and not line.endswith("\\$"):
        line = line[:-1]
    return line


def escape_bre(text: str) -> str:
    """Escape text so grep/sed (basic regex) match it literally."""
    return re.sub(r"([.\\*\[\]^$/])", r"\\\1", text)


@dataclass(frozen=True)
class SedEdit:
    """How files.line edits a file in place, the same for replacing and deleting lines."""

    flags: list[str] | None = None
    backup: bool | str = False
    extended_regex: bool = False
    interpolate_variables: bool = False


def _sed(path: str, script: str, edit: SedEdit) -> StringCommand:
    suffix = edit.backup if isinstance(edit.backup, str) and edit.backup else backup_suffix()
    flags = ["sed"]
    if edit.extended_regex:
        flags.append("-E")
    flags.append(f"-i.{suffix}")
    script_bit = f'"{script}"' if edit.interpolate_variables else QuoteString(script)
    command = StringCommand(" ".join(flags), script_bit, QuoteString(path))
    if edit.backup:
        return command
    # -i.SUFFIX then rm works on GNU and BSD sed alike, unlike a bare -i.
    return StringCommand(command, "&&", "rm", "-f", QuoteString(f"{path}.{suffix}"))


def _sed_escape(text: str, interpolate_variables: bool) -> str:
    text = text.replace("/", r"\/")
    if interpolate_variables:
        text = text.replace('"', '\\"')
    return text


def sed_replace(path: str, match: str, replace: str, edit: SedEdit) -> StringCommand:
    """Replace every line matching ``match`` with ``replace`` (sed ``s///``, in place)."""
    replacement = _sed_escape(str(replace), edit.interpolate_variables).replace("&", r"\&")
    pattern = _sed_escape(match, edit.interpolate_variables)
    script = f"s/{pattern}/{replacement}/{''.join(edit.flags or [])}"
    return _sed(path, script, edit)


def sed_delete(path: str, match: str, edit: SedEdit) -> StringCommand:
    """Delete every line matching ``match`` (sed ``/re/d``, in place)."""
    ignore_case = "I" if any(re.search("[iI]", flag) for flag in edit.flags or []) else ""
    script = f"/{_sed_escape(match, edit.interpolate_variables)}/{ignore_case}d"
    return _sed(path, script, edit)


def touch_time(target: str, field: str, when: datetime) -> StringCommand:
    """Set a file's ``atime`` or ``mtime`` (``field``) to an aware datetime, given to touch
    in UTC with a ``Z`` so that GNU and BSD touch read it alike."""
    flag = "-a" if field == "atime" else "-m"
    stamp = when.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return StringCommand("touch", flag, "-d", stamp, QuoteString(target))


# One awk program for every files.block edit; what it does is ARGV[1]:
#   replace  the lines between the markers become the content (ARGV[4])
#   remove   the markers and what is between them go
#   before / after  the marked block (ARGV[4]) goes before / after the first line matching
#            ARGV[5] (an ERE), or at the end when none does
#   prepend / append  the marked block goes first / last
# Arguments are read from ARGV, which awk takes as they are (a -v value would have its
# backslashes read as escapes); markers are found as plain substrings, as Block finds them.
BLOCK_EDIT_AWK = (
    "BEGIN { m = ARGV[1]; b = ARGV[2]; e = ARGV[3]; x = ARGV[4]; r = ARGV[5]; "
    'for (i = 1; i <= 5; i++) ARGV[i] = ""; if (m == "prepend") print x } '
    'skip { if (index($0, e)) { skip = 0; if (m == "replace") print }; next } '
    '(m == "replace" || m == "remove") && index($0, b) '
    '{ if (m == "replace") { print; print x }; skip = 1; next } '
    'm == "before" && !done && $0 ~ r { print x; done = 1 } '
    "{ print } "
    'm == "after" && !done && $0 ~ r { print x; done = 1 } '
    'END { if (m == "append" || ((m == "before" || m == "after") && !done)) print x }'
)


def block_edit(
    path: str, how: str, markers: tuple[str, str], text: str = "", regex: str = ""
) -> StringCommand:
    """Rewrite ``path`` through BLOCK_EDIT_AWK into a temporary file, then copy it back over
    the file's own content, so the file keeps its owner, mode and inode."""
    quoted = QuoteString(path)
    awk = StringCommand(
        "awk",
        QuoteString(BLOCK_EDIT_AWK),
        QuoteString(how),
        QuoteString(markers[0]),
        QuoteString(markers[1]),
        QuoteString(text),
        QuoteString(regex),
        quoted,
    )
    return StringCommand(
        'OUT="$(mktemp)" && {', awk, '> "$OUT" && cat "$OUT" >', quoted,
        '; } ; STATUS=$? ; rm -f "$OUT" ; test "$STATUS" -eq 0',
    )


def block_create(path: str, lines: list[str]) -> StringCommand:
    """A new file holding just the marked block, created with the umask's mode."""
    return StringCommand("printf '%s\\n'", *(QuoteString(line) for line in lines), ">",
                         QuoteString(path))
