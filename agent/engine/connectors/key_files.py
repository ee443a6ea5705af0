"""known_hosts files and private keys, read once per run for all its hosts.

Every host of a fleet usually names the same known_hosts file and the same key. Parsing
the file for each host costs hosts x lines key objects (a 100-host run: 10,000), and
decoding the key once per host repeats the same work; both were the bulk of the connect
stage's CPU. A run makes one KeyFiles (engine/run.py) and gives it to every SSH connector.

A file is read again when its size, time or inode changes: a connector that records a new
host key appends to known_hosts while others connect.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import paramiko

from agent.engine.connectors.ssh_keys import load_private_key

T = TypeVar("T")


def _stamp(path: Path | str) -> tuple[int, int, int]:
    stat = os.stat(path)
    return stat.st_mtime_ns, stat.st_size, stat.st_ino


class KeyFiles:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._read: dict[tuple[str, str], tuple[tuple[int, int, int], object]] = {}

    def _once(self, kind: str, path: str, read: Callable[[], T]) -> T:
        stamp = _stamp(path)
        with self._lock:
            known = self._read.get((kind, path))
            if known is not None and known[0] == stamp:
                return known[1]  # type: ignore[return-value]
            value = read()
            self._read[(kind, path)] = (stamp, value)
            return value

    def host_keys(self, path: Path) -> paramiko.HostKeys:
        """The parsed file; callers copy entries out of it and never change it."""
        return self._once("known_hosts", str(path), lambda: paramiko.HostKeys(str(path)))

    def private_key(self, path: str, password: str | bytes | None) -> paramiko.PKey:
        """The key, decrypted with `password`; an unreadable key raises ConnectError."""
        if not os.path.exists(path):
            return load_private_key(path, password)  # says that it does not exist
        kind = f"key:{password!r}"
        return self._once(kind, path, lambda: load_private_key(path, password))


def copy_host_entries(source: paramiko.HostKeys, name: str, into: paramiko.HostKeys) -> None:
    """Put the keys `source` holds for `name` (as paramiko names a host: `host`, or
    `[host]:port` off port 22; hashed entries included) into a client's own HostKeys."""
    entry = source.lookup(name)
    if entry:
        for key_type in entry:
            into.add(name, key_type, entry[key_type])
