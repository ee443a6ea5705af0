"""Whether a commit's changed files concern a deployment (its `paths` filter).

A pattern without glob characters is a path prefix on whole segments: `deploys` matches
`deploys/web.py` but not `deploys-old/x`. A glob uses `*` (within one segment), `?` and
`**` (any number of segments), and also covers everything under a directory it matches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

_GLOB_CHARS = set("*?[")


def paths_match(patterns: Sequence[str], changed: Iterable[str] | None) -> bool:
    """True when the deployment should run for these changes.

    No patterns means "every change"; `changed=None` means the changes are unknown (first
    run, or no common history), which must trigger rather than silently skip.
    """
    if not patterns or changed is None:
        return True
    compiled = [_pattern(p) for p in patterns]
    return any(rx.match(path) for path in changed for rx in compiled)


@lru_cache(maxsize=256)
def _pattern(pattern: str) -> re.Pattern[str]:
    cleaned = pattern.strip().lstrip("/").removeprefix("./").rstrip("/")
    if not cleaned:
        return re.compile(".*")
    body = _glob_to_regex(cleaned) if _GLOB_CHARS & set(cleaned) else re.escape(cleaned)
    return re.compile(f"{body}(?:/.*)?$")


def _glob_to_regex(glob: str) -> str:
    out, i = [], 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        elif glob[i] == "[" and (end := glob.find("]", i + 1)) > i:
            out.append("[" + glob[i + 1:end].replace("!", "^", 1) + "]")
            i = end + 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return "".join(out)
