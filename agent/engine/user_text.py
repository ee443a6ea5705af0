"""The user's Python files (inventory, group data, deploy code) read as text.

A file that is not UTF-8 (binary junk committed by mistake, a Latin-1 editor) is the user's
to fix, so it becomes their error with file:line and what to do, never a decoding traceback.
"""

from __future__ import annotations

from pathlib import Path

from agent.engine.callsite import format_location
from agent.engine.errors import UserError


def read_user_text(path: Path, error: type[UserError], what: str) -> str:
    """The file's text; `error` names what went wrong, where, and what to do otherwise."""
    filename = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise error(f"cannot read the {what}: {exc.strerror}", where=filename) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise error(
            f"the {what} is not UTF-8 text (byte 0x{data[exc.start]:02x} cannot be decoded)",
            where=format_location(filename, line),
            fix="save it as UTF-8; keep binary files out of the Python files pullinfra loads",
        ) from None
