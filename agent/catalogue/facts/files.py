"""Facts about paths on the host: type, owner, mode, times, contents and checksums.

Every command here exits 0 whether or not the path exists, because a non-zero fact command
fails the host; absence is signalled by empty output (the fact's default) instead.
"""

from __future__ import annotations

import base64
import binascii
import re
import shlex
from datetime import UTC, datetime
from typing import Any, ClassVar

from agent.engine.fact import FactBase, FactError


def quote_path(path: str) -> str:
    """Shell-quote a path, leaving a leading ``~/`` bare so the host's shell expands it."""
    if path.startswith("~/"):
        return "~/" + shlex.quote(path[2:])
    return shlex.quote(path)


# GNU stat: octal mode (%a) instead of the symbolic one so no permission-string parsing is
# needed; %F (the type, which may contain spaces) goes last.
STAT_FORMAT = "user=%U group=%G mode=%a atime=%X mtime=%Y ctime=%Z size=%s type=%F"
STAT_REGEX = re.compile(
    r"^user=(\S*) group=(\S*) mode=([0-7]+) atime=(-?\d+) mtime=(-?\d+) ctime=(-?\d+) "
    r"size=(\d+) type=(.+)$"
)

STAT_TYPES = {
    "regular file": "file",
    "regular empty file": "file",
    "directory": "directory",
    "symbolic link": "link",
    "socket": "socket",
    "fifo": "fifo",
    "block special file": "block",
    "character special file": "character",
}


def _utc(seconds: str) -> datetime:
    """A naive UTC datetime, as pyinfra's File fact returns."""
    return datetime.fromtimestamp(int(seconds), UTC).replace(tzinfo=None)


class File(FactBase[dict[str, Any]]):
    """What is at ``path``: None if nothing, False if not a regular file, else a dict.

    ``{"user": "root", "group": "root", "mode": 644, "size": 12, "atime": datetime, "mtime":
    datetime, "ctime": datetime}``; ``mode`` is the octal digits as an int (644, 4755), which
    is what operations compare a requested mode against. Links also carry ``link_target``.
    """

    type: ClassVar[str] = "file"

    def command(self, path: str) -> str:
        p = quote_path(path)
        return (
            f"! (test -e {p} || test -L {p}) || "
            f"{{ stat -c '{STAT_FORMAT}' {p} && {{ test ! -L {p} || readlink {p}; }}; }}"
        )

    def process(self, output: list[str]) -> dict[str, Any] | bool | None:
        match = STAT_REGEX.match(output[0])
        if not match:
            raise FactError(f"files.{type(self).__name__}: unexpected stat output {output[0]!r}")
        user, group, mode, atime, mtime, ctime, size, kind = match.groups()
        path_type = STAT_TYPES.get(kind.strip(), kind.strip())
        if path_type != self.type:
            return False
        data: dict[str, Any] = {
            "user": user,
            "group": group,
            "mode": int(mode),
            "atime": _utc(atime),
            "mtime": _utc(mtime),
            "ctime": _utc(ctime),
            "size": int(size),
        }
        if path_type == "link":
            data["link_target"] = output[1] if len(output) > 1 else ""
        return data


class Directory(File):
    """As File, for directories."""

    type = "directory"


class Link(File):
    """As File, for symbolic links (not followed); the dict adds ``link_target``."""

    type = "link"


class Socket(File):
    type = "socket"


PRESENT_MARK = "__pullinfra_present__"


class FileContents(FactBase[str]):
    """The file's text, exactly (trailing newline included), or None when it does not exist.

    The content travels base64-encoded so the engine's line splitting cannot lose a final
    newline or blank lines; that exactness is what diffs and comparisons need.
    """

    def command(self, path: str) -> str:
        p = quote_path(path)
        return f"! test -f {p} || {{ echo {PRESENT_MARK} && base64 < {p}; }}"

    def process(self, output: list[str]) -> str | None:
        if not output or output[0].strip() != PRESENT_MARK:
            raise FactError(f"files.FileContents: unexpected output {output[:1]!r}")
        try:
            data = base64.b64decode("".join(line.strip() for line in output[1:]))
        except binascii.Error as exc:
            raise FactError(f"files.FileContents: undecodable content: {exc}") from exc
        return data.decode("utf-8", errors="replace")


class _HashFile(FactBase[str]):
    """Checksum of a regular file, or None if there is none; the tool differs by platform."""

    tools: ClassVar[tuple[str, ...]] = ()
    digits: ClassVar[int] = 0

    def command(self, path: str) -> str:
        p = quote_path(path)
        tries = " || ".join(f"{tool} {p} 2>/dev/null" for tool in self.tools)
        return f"! test -f {p} || {{ {tries} || true; }}"

    def process(self, output: list[str]) -> str | None:
        for line in output:
            text = line.strip()
            # GNU tools prefix a backslash when the file name needed escaping.
            first = text.split()[0].lstrip("\\") if text else ""
            if len(first) == self.digits and re.fullmatch(r"[0-9a-fA-F]+", first):
                return first.lower()
            bsd = re.search(r"=\s*([0-9a-fA-F]+)$", text)
            if bsd and len(bsd.group(1)) == self.digits:
                return bsd.group(1).lower()
        return None


class Sha256File(_HashFile):
    tools = ("sha256sum", "shasum -a 256", "sha256 -r")
    digits = 64


class Sha1File(_HashFile):
    tools = ("sha1sum", "shasum", "sha1 -r")
    digits = 40


class Md5File(_HashFile):
    tools = ("md5sum", "md5 -r")
    digits = 32


CHECKSUM_MARK = "__pullinfra_sha256__"
PARENT_MARK = "__pullinfra_parent__"


class PathState(FactBase[tuple[Any, str | None, Any]]):
    """What files.put, files.template and files.file read first about ``path``, in one
    command: ``(File, SHA-256, parent Directory)``.

    The SHA-256 is read only if ``checksum`` and ``path`` is a regular file; the Directory
    fact of ``parent`` only if it is given and nothing is at ``path`` (something there means
    its parent is a directory already). Each is the value File, Sha256File and Directory
    give, else None. As separate facts these were up to three SSH commands per operation and
    host; the conditions keep a no-change run at the cost of the reads it needs.
    """

    def command(self, path: str, checksum: bool = False, parent: str | None = None) -> str:
        exists = File().command(path)
        if checksum:
            digest = Sha256File().command(path)
            exists = f"{{ {exists}; }} && echo {CHECKSUM_MARK} && {{ {digest}; }}"
        if parent is None:
            return exists
        p = quote_path(path)
        return (
            f"if test -e {p} || test -L {p}; then {exists}; "
            f"else echo {PARENT_MARK} && {{ {Directory().command(parent)}; }}; fi"
        )

    def default(self) -> tuple[Any, str | None, Any]:
        return None, None, None

    def process(self, output: list[str]) -> tuple[Any, str | None, Any]:
        if output[0] == PARENT_MARK:
            rest = output[1:]
            return None, None, Directory().process(rest) if rest else None
        checksum = None
        if CHECKSUM_MARK in output:
            mark = output.index(CHECKSUM_MARK)
            output, checksum = output[:mark], Sha256File().process(output[mark + 1 :])
        info = File().process(output) if output else None
        return info, checksum if info else None, None


EXISTS_MARK = "__pullinfra_exists__"


class FindInFile(FactBase[list[str]]):
    """Lines of ``path`` matching a grep pattern: a list ([] if none), None if no such file."""

    def command(
        self,
        path: str,
        pattern: str,
        interpolate_variables: bool = False,
        extended_regex: bool = False,
    ) -> str:
        p = quote_path(path)
        if interpolate_variables:
            pat = '"{}"'.format(pattern.replace('"', '\\"'))
        else:
            pat = shlex.quote(pattern)
        grep = "grep -E" if extended_regex else "grep"
        return f"{grep} -e {pat} {p} 2>/dev/null || {{ ! test -f {p} || echo {EXISTS_MARK}; }}"

    def process(self, output: list[str]) -> list[str] | None:
        if output == [EXISTS_MARK]:
            return []
        return list(output)


class Sha384File(_HashFile):
    tools = ("sha384sum", "shasum -a 384", "sha384 -r")
    digits = 96


_SIZE_UNITS = {
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}


def parse_size(size: str | int) -> int:
    """Bytes of ``1024``, ``"10MB"`` (10**6) or ``"1 GiB"`` (2**30), as pyinfra reads them."""
    if isinstance(size, int):
        return size
    match = re.fullmatch(r"\s*([0-9.]+)\s*([KMGT]?I?B)\s*", str(size).upper())
    if not match:
        raise FactError(f"cannot read the size {size!r}: use bytes or e.g. '10MB', '1GiB'")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2)])


class _FindBase(FactBase[list[str]]):
    """Paths below ``path`` of one type, from find; [] when there are none (or no ``path``).

    Sizes are given to find in bytes (``c``): its other units round in surprising ways.
    """

    type_flag: ClassVar[str] = ""

    def command(
        self,
        path: str,
        size: str | int | None = None,
        min_size: str | int | None = None,
        max_size: str | int | None = None,
        maxdepth: int | None = None,
        fname: str | None = None,
        iname: str | None = None,
        regex: str | None = None,
        path_match: str | None = None,
        args: list[str] | None = None,
        quote_path: bool = True,
    ) -> str:
        extra = list(args or [])

        def word(value: str) -> str:
            return shlex.quote(value) if quote_path else value

        bits = ["find", word(path), "-type", self.type_flag]
        if "-size" not in extra:
            if min_size is not None:
                bits += ["-size", f"+{parse_size(min_size)}c"]
            if max_size is not None:
                bits += ["-size", f"-{parse_size(max_size)}c"]
            if size is not None:
                bits += ["-size", f"{size}c"]
        if maxdepth is not None and "-maxdepth" not in extra:
            bits += ["-maxdepth", str(maxdepth)]
        for flag, value in (("-name", fname), ("-iname", iname), ("-regex", regex)):
            if value is not None and flag not in extra:
                bits += [flag, word(value)]
        if path_match is not None and "-path" not in extra:
            bits += ["-path", shlex.quote(path_match)]
        bits += extra
        return " ".join([*bits, "2>/dev/null", "||", "true"])

    def default(self) -> list[str]:
        return []

    def process(self, output: list[str]) -> list[str]:
        return list(output)


class FindFiles(_FindBase):
    type_flag = "f"


class FindLinks(_FindBase):
    type_flag = "l"


class FindDirectories(_FindBase):
    type_flag = "d"


BLOCK_MARKER = "# {mark} PYINFRA BLOCK"
BLOCK_BEGIN = "BEGIN"
BLOCK_END = "END"
BLOCK_FOUND_MARK = "__pullinfra_block__"
MISSING_MARK = "__pullinfra_missing__"


def block_markers(
    marker: str | None = None, begin: str | None = None, end: str | None = None
) -> tuple[str, str]:
    """The opening and closing marker lines of a files.block, as pyinfra builds them."""
    template = marker or BLOCK_MARKER
    first = template.format(mark=begin or BLOCK_BEGIN)
    last = template.format(mark=end or BLOCK_END)
    if first == last:
        raise FactError(f"a block's markers must differ, both are {first!r}: change begin/end")
    return first, last


# Markers are found as plain substrings of a line (index, not a regex), so a marker with
# regex characters in it (<!-- {mark} -->, [x]) is found as written.
_BLOCK_AWK = (
    "BEGIN { b = ARGV[1]; e = ARGV[2]; ARGV[1] = \"\"; ARGV[2] = \"\" } "
    "f && index($0, e) { f = 0 } "
    "f { print } "
    f'!f && index($0, b) {{ f = 1; print "{BLOCK_FOUND_MARK}" }}'
)


class Block(FactBase[list[str]]):
    """The lines between a files.block's markers: None if there is no such file, [] if the
    markers are not in it, else the lines (``[""]`` for markers with nothing between).

    Several marked blocks read as their lines one after the other, as in pyinfra.
    """

    def command(
        self, path: str, marker: str | None = None, begin: str | None = None,
        end: str | None = None,
    ) -> str:
        first, last = block_markers(marker, begin, end)
        p = quote_path(path)
        return (
            f"if test -f {p}; then awk {shlex.quote(_BLOCK_AWK)} "
            f"{shlex.quote(first)} {shlex.quote(last)} {p}; else echo {MISSING_MARK}; fi"
        )

    def default(self) -> list[str]:
        return []

    def process(self, output: list[str]) -> list[str] | None:
        if output == [MISSING_MARK]:
            return None
        lines = [line for line in output if line != BLOCK_FOUND_MARK]
        if not lines and BLOCK_FOUND_MARK in output:
            return [""]
        return lines


class Flags(FactBase[list[str]]):
    """The BSD file flags set on ``path`` (``["hidden", "uchg"]``), [] if none or no path.

    Only read where chflags exists: Linux has no such flags, and there the list is empty.
    """

    def requires_command(self, path: str) -> str:
        return "chflags"

    def command(self, path: str) -> str:
        p = quote_path(path)
        return f"! test -e {p} || stat -f %Sf {p}"

    def default(self) -> list[str]:
        return []

    def process(self, output: list[str]) -> list[str]:
        if len(output) != 1:
            return []
        # stat prints "-" for a path without flags.
        return [flag for flag in output[0].strip().split(",") if flag and flag != "-"]


SAME_MARK = "__pullinfra_same__"


class SameTree(FactBase[bool]):
    """Whether two paths hold the same content, compared recursively for directories: what
    files.copy checks before copying a directory again."""

    def command(self, path: str, other: str) -> str:
        return (
            f"if diff -rq {quote_path(path)} {quote_path(other)} >/dev/null 2>&1; "
            f"then echo {SAME_MARK}; fi"
        )

    def default(self) -> bool:
        return False

    def process(self, output: list[str]) -> bool:
        return SAME_MARK in (line.strip() for line in output)
