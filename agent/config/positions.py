"""Line numbers for TOML keys, so config errors can say `file:line`.

tomllib returns plain data without positions, so this scans the text the way a person
reads it: table headers, array-of-table headers and `key = value` lines. It is a locator,
not a parser; anything it cannot place falls back to the nearest enclosing table.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

Loc = tuple[str | int, ...]

_ARRAY_HEADER = re.compile(r"^\s*\[\[\s*([^\]]+?)\s*\]\]")
_TABLE_HEADER = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]")
_KEY_PART_PATTERN = r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'"""
_KEY_LINE = re.compile(rf"^\s*((?:{_KEY_PART_PATTERN})(?:\s*\.\s*(?:{_KEY_PART_PATTERN}))*)\s*=")
_KEY_PART = re.compile(_KEY_PART_PATTERN)


def key_lines(text: str) -> dict[Loc, int]:
    """Map each table and key path in `text` to the 1-based line that defines it."""
    lines: dict[Loc, int] = {}
    array_counts: dict[Loc, int] = {}
    table: Loc = ()
    in_multiline: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if in_multiline:
            if line.count(in_multiline) % 2 == 1:
                in_multiline = None
            continue
        if array := _ARRAY_HEADER.match(line):
            name = _split_key(array.group(1))
            index = array_counts.get(name, 0)
            array_counts[name] = index + 1
            table = (*name, index)
            lines.setdefault(name, number)
            lines[table] = number
        elif header := _TABLE_HEADER.match(line):
            table = _under_latest_array(_split_key(header.group(1)), array_counts)
            lines.setdefault(table, number)
        elif key := _KEY_LINE.match(line):
            lines.setdefault((*table, *_split_key(key.group(1))), number)
            in_multiline = _opens_multiline(line[key.end():])
    return lines


def line_for(lines: dict[Loc, int], loc: Sequence[str | int]) -> int | None:
    """The line of `loc`, or of its closest ancestor the scanner saw."""
    for end in range(len(loc), 0, -1):
        if (found := lines.get(tuple(loc[:end]))) is not None:
            return found
    return None


def _split_key(raw: str) -> tuple[str, ...]:
    return tuple(part.strip("\"'") for part in _KEY_PART.findall(raw))


def _under_latest_array(path: tuple[str, ...], array_counts: dict[Loc, int]) -> Loc:
    """`[deployment.data]` after the 2nd `[[deployment]]` belongs to deployment index 1."""
    for cut in range(len(path) - 1, 0, -1):
        count = array_counts.get(path[:cut])
        if count:
            return (*path[:cut], count - 1, *path[cut:])
    return path


def _opens_multiline(value: str) -> str | None:
    for quote in ('"""', "'''"):
        if value.count(quote) % 2 == 1:
            return quote
    return None
