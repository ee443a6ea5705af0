"""Host-to-shard assignment by rendezvous (highest-random-weight) hashing.

Rendezvous hashing moves only ~1/count of the hosts when the shard count changes, needs no
shared table, and gives every agent the same answer from the host name alone. sha256 keeps
the answer stable across Python versions and processes (unlike `hash()`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

_TRAILING_ORDINAL = re.compile(r"-(\d+)$")


def shard_for_host(name: str, count: int) -> int:
    """The shard index (0..count-1) that owns `name`."""
    if count < 1:
        raise ValueError("shard count must be at least 1")
    return max(range(count), key=lambda index: _weight(name, index))


def hosts_for_shard(hosts: Iterable[str], index: int, count: int) -> list[str]:
    """The subset of `hosts` that shard `index` of `count` must manage, order preserved."""
    if not 0 <= index < count:
        raise ValueError(f"shard index {index} is outside 0..{count - 1}")
    return [host for host in hosts if shard_for_host(host, count) == index]


def ordinal_from_pod_name(name: str) -> int:
    """The StatefulSet ordinal of a pod name like `pullinfra-2`; ValueError when absent."""
    match = _TRAILING_ORDINAL.search(name.strip())
    if not match:
        raise ValueError(
            f"{name!r} has no trailing ordinal; expected an integer or a StatefulSet pod "
            "name such as \"pullinfra-2\""
        )
    return int(match.group(1))


def _weight(name: str, index: int) -> int:
    digest = hashlib.sha256(f"{index}\x00{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big")
