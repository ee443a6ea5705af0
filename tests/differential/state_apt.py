"""Readers of a bed host's apt configuration for the apt differential cases: the source
files, the keyrings (file attributes and the fingerprints in each), read from the host."""

from __future__ import annotations

from collections.abc import Iterable

from tests.differential import state
from tests.testbed import Host

SOURCES_DIR = "/etc/apt/sources.list.d"
KEYRING_DIRS = ("/etc/apt/keyrings", "/etc/apt/trusted.gpg.d")


def _listing(host: Host, directory: str) -> list[str]:
    out = host.run(["sh", "-c", f"ls -A {directory} 2>/dev/null || true"]).stdout
    return sorted(f"{directory}/{name}" for name in out.split())


def _fingerprints(host: Host, path: str) -> list[str]:
    out = host.run(["sh", "-c", 'h=$(mktemp -d) && gpg --homedir "$h" --batch --with-colons'
                    f' --show-keys {path} 2>/dev/null; rm -rf "$h"']).stdout
    return sorted(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:"))


def apt_config(host: Host, packages: Iterable[str]) -> dict:
    """sources.list and every file in sources.list.d (text), each keyring file (attributes
    and fingerprints), and the installed version of each of ``packages``."""
    keyrings = [path for d in KEYRING_DIRS for path in _listing(host, d)]
    return {
        "sources.list": host.read_text("/etc/apt/sources.list"),
        "sources.list.d": {p: host.read_text(p) for p in _listing(host, SOURCES_DIR)},
        "keyrings": {p: {**state.files(host, [p])[p], "keys": _fingerprints(host, p)}
                     for p in keyrings},
        "packages": state.packages(host, packages),
    }
