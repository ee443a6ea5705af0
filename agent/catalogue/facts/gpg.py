"""Facts about OpenPGP keys: in a key file, a keyring, or every keyring under some directories.

They read ``gpg --with-colons`` records (gnupg's doc/DETAILS): ``pub``/``sec`` start a key,
``sub``/``ssb`` a subkey, and the ``fpr`` and ``uid`` records after one belong to it. apt.key
uses them to tell whether a keyring already holds the keys it is asked for.
"""

from __future__ import annotations

import shlex
from typing import Any, ClassVar
from urllib.parse import urlparse

from agent.engine.fact import FactBase

__all__ = ["GpgKey", "GpgKeyrings", "GpgKeys", "GpgSecretKeys", "parse_colon_keys"]

KeyInfo = dict[str, Any]


def _record(bits: list[str]) -> KeyInfo:
    length = bits[2] if len(bits) > 2 else ""
    return {
        "validity": bits[1] if len(bits) > 1 else "",
        "length": int(length) if length.isdigit() else 0,
        "id": bits[4] if len(bits) > 4 else "",
    }


def parse_colon_keys(
    lines: list[str], key_type: str = "pub", subkey_type: str = "sub"
) -> dict[str, KeyInfo]:
    """``{key id: {validity, length, fingerprint, uid, uid_hash, subkeys: {id: {...}}}}``."""
    keys: list[KeyInfo] = []
    key: KeyInfo | None = None
    target: KeyInfo | None = None
    for line in lines:
        bits = line.split(":")
        kind = bits[0]
        if kind == key_type:
            key = _record(bits)
            key["subkeys"] = []
            keys.append(key)
            target = key
        elif kind == subkey_type and key is not None:
            target = _record(bits)
            key["subkeys"].append(target)
        elif target is not None and kind == "fpr" and len(bits) > 9:
            target["fingerprint"] = bits[9]
        elif target is not None and kind == "uid" and len(bits) > 9:
            target["uid_hash"] = bits[7]
            target["uid"] = bits[9]
    by_id: dict[str, KeyInfo] = {}
    for found in keys:
        found["subkeys"] = {sub.pop("id"): sub for sub in found["subkeys"]}
        by_id[found.pop("id")] = found
    return by_id


class _GpgFact(FactBase[dict[str, KeyInfo]]):
    key_type: ClassVar[str] = "pub"
    subkey_type: ClassVar[str] = "sub"

    def requires_command(self, *args: Any, **kwargs: Any) -> str:
        return "gpg"

    def default(self) -> dict[str, KeyInfo]:
        return {}

    def process(self, output: list[str]) -> dict[str, KeyInfo]:
        return parse_colon_keys(output, self.key_type, self.subkey_type)


class GpgKey(_GpgFact):
    """The keys in one key file, or in a key fetched from a URL (with wget, else curl)."""

    def command(self, src: str) -> str:
        if urlparse(src).scheme:
            url = shlex.quote(src)
            return f"(wget -O - {url} || curl -sSLf {url}) | gpg --with-colons"
        return f"gpg --with-colons {shlex.quote(src)}"


class GpgKeys(_GpgFact):
    """The public keys of the user's keychain, or of one ``keyring`` file only."""

    def command(self, keyring: str | None = None) -> str:
        if not keyring:
            return "gpg --list-keys --with-colons"
        return (
            f"gpg --list-keys --with-colons --keyring {shlex.quote(keyring)} --no-default-keyring"
        )


class GpgSecretKeys(_GpgFact):
    """The secret keys of the user's keychain, or of one ``keyring`` file only."""

    key_type = "sec"
    subkey_type = "ssb"

    def command(self, keyring: str | None = None) -> str:
        if not keyring:
            return "gpg --list-secret-keys --with-colons"
        return (
            f"gpg --list-secret-keys --with-colons --keyring {shlex.quote(keyring)}"
            " --no-default-keyring"
        )


KEYRING_MARK = "KEYRING:"


class GpgKeyrings(FactBase[dict[str, dict[str, Any]]]):
    """Every keyring file (``.gpg``, ``.kbx`` and armored ``.asc``) under ``directories``:
    ``{path: {"format": "gpg", "keys": {...as GpgKeys}}}``. A directory that does not exist
    adds nothing."""

    def requires_command(self, directories: str | list[str] | tuple[str, ...]) -> str:
        return "gpg"

    def command(self, directories: str | list[str] | tuple[str, ...]) -> str:
        dirs = [directories] if isinstance(directories, str) else list(directories)
        where = " ".join(shlex.quote(d) for d in dirs)
        binary = (
            f"echo \"{KEYRING_MARK}$1\"; gpg --list-keys --with-colons --keyring \"$1\""
            " --no-default-keyring 2>/dev/null || true"
        )
        armored = f"echo \"{KEYRING_MARK}$1\"; gpg --with-colons \"$1\" 2>/dev/null || true"
        return (
            f"find {where} -type f \\( -name '*.gpg' -o -name '*.kbx' \\) 2>/dev/null"
            f" -exec sh -c {shlex.quote(binary)} _ {{}} \\; ;"
            f" find {where} -type f -name '*.asc' 2>/dev/null"
            f" -exec sh -c {shlex.quote(armored)} _ {{}} \\;"
        )

    def default(self) -> dict[str, dict[str, Any]]:
        return {}

    def process(self, output: list[str]) -> dict[str, dict[str, Any]]:
        keyrings: dict[str, dict[str, Any]] = {}
        path: str | None = None
        lines: list[str] = []

        def flush() -> None:
            if path is not None and lines:
                keyrings[path] = {
                    "format": path.rsplit(".", 1)[-1].lower(),
                    "keys": parse_colon_keys(lines),
                }

        for raw in output:
            line = raw.strip()
            if not line:
                continue
            if line.startswith(KEYRING_MARK):
                flush()
                path, lines = line[len(KEYRING_MARK):], []
            else:
                lines.append(line)
        flush()
        return keyrings
