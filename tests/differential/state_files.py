"""State readers for the files family's differential cases: each file's text, mode, owner
and (where a case sets them) its access and modification times, read from inside the bed
host, never over SSH."""

from __future__ import annotations

import stat as stat_module
from collections.abc import Iterable

from tests.testbed import Host


def texts(host: Host, paths: Iterable[str], times: bool = False) -> dict[str, dict | None]:
    """Per path: None if nothing is there, else its exact text, octal mode and owner ids,
    with whole-second ``atime``/``mtime`` when ``times``."""
    found: dict[str, dict | None] = {}
    for path in paths:
        st = host.stat(path, follow_symlinks=False)
        if st is None:
            found[path] = None
            continue
        data = host.read_file(path) if stat_module.S_ISREG(st.st_mode) else None
        entry: dict = {
            "text": None if data is None else data.decode("utf-8", errors="replace"),
            "mode": oct(stat_module.S_IMODE(st.st_mode)),
            "uid": st.st_uid,
            "gid": st.st_gid,
        }
        if times:
            entry["atime"] = int(st.st_atime)
            entry["mtime"] = int(st.st_mtime)
        found[path] = entry
    return found
