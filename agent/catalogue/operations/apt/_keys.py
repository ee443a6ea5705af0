"""apt.key: the OpenPGP keys apt checks repositories with, as keyring files (never apt-key).

Keys go to /etc/apt/keyrings/ (a name is made from the source when ``dest`` is not given) and
are referred to from a source with ``signed-by=``. An installed keyring counts as done when
the file exists, or, with ``keyid``, when it holds every key asked for.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import PurePosixPath
from urllib.parse import urlparse

from agent.catalogue.facts.apt import APT_KEYRING_DIRS
from agent.catalogue.facts.files import File
from agent.catalogue.facts.gpg import GpgKeyrings
from agent.catalogue.facts.server import TmpDir, Which
from agent.catalogue.operations import files
from agent.engine.command import Commands
from agent.engine.context import host
from agent.engine.operation import operation
from agent.engine.operation_errors import OperationValueError

__all__ = ["key"]

KEYRINGS = "/etc/apt/keyrings"
KEY_MODE = "0644"


def _slug(text: str) -> str:
    text = re.sub(r"[^\w.-]+", "_", text.strip().lower())
    return re.sub(r"_+", "_", text).strip("_.") or "apt-keyring"


def _key_stem(name: str) -> str:
    return _slug(name.replace(".asc", "").replace(".gpg", ""))


def _default_dest(src: str | None, keyids: list[str] | None) -> str:
    """A stable keyring path from the source (URL host + file name, or the file name) or
    from the key ids."""
    if src:
        url = urlparse(src)
        if url.scheme and url.netloc:
            domain = _slug(url.netloc.replace(":", "_"))
            base = f"{domain}-{_key_stem(url.path.rsplit('/', 1)[-1] or 'key')}"
        else:
            base = _key_stem(src.rsplit("/", 1)[-1]) or "key"
    elif keyids:
        base = "keyserver-" + _slug("-".join(keyids))
    else:
        base = "apt-keyring"
    return f"{KEYRINGS}/{base}.gpg"


def _as_ids(keyid: str | list[str] | None) -> list[str]:
    if keyid is None:
        return []
    return [keyid] if isinstance(keyid, str) else list(keyid)


def _clean(keyid: str) -> str:
    return keyid.replace("0x", "").replace("0X", "").upper()


def _same_key(existing: str, wanted: str) -> bool:
    """Short ids, long ids and fingerprints name the same key when one ends the other."""
    have = existing.upper()
    return have == wanted or have.endswith(wanted) or have.startswith(wanted) or (
        wanted.endswith(have)
    )


def _temp_path(key: str) -> str:
    directory = host.get_fact(TmpDir) or "/tmp"
    return f"{directory.rstrip('/')}/pullinfra-{hashlib.sha1(key.encode()).hexdigest()}"


def _fingerprints(keys: dict, keyids: list[str]) -> list[str]:
    found: list[str] = []
    for wanted in map(_clean, keyids):
        for existing, info in keys.items():
            fingerprint = info.get("fingerprint", existing)
            if _same_key(existing, wanted) and fingerprint not in found:
                found.append(fingerprint)
    return found


def _remove_keys(path: str, keyring: dict, keyids: list[str]) -> Commands:
    keys = keyring.get("keys", {})
    remove = _fingerprints(keys, keyids)
    if not remove:
        return
    if keyring.get("format", "gpg") == "asc":
        if len(remove) < len(keys):
            raise OperationValueError(
                f"cannot remove single keys from the armored keyring {path!r}, which holds "
                "other keys too: remove the whole file (dest= and no keyid=)"
            )
        yield from files.file._inner(path=path, present=False)
        return
    yield (
        f'gpg --batch --yes --no-default-keyring --keyring "{path}"'
        f" --delete-keys {' '.join(remove)}"
    )
    # A keyring left without keys is removed, so apt does not read an empty file.
    yield (
        f'gpg --batch --no-default-keyring --keyring "{path}"'
        f' --list-keys 2>/dev/null | grep -q "^pub" || rm -f "{path}"'
    )


def _download(src: str, dest: str) -> Commands:
    if host.get_fact(File, path=dest):
        host.noop(f"file {dest} has already been downloaded")
        return
    if host.get_fact(Which, command="curl"):
        yield f"curl -sSLf '{src}' -o '{dest}'"
    elif host.get_fact(Which, command="wget"):
        yield f"wget -q '{src}' -O '{dest}'"
    else:
        raise OperationValueError(f"neither curl nor wget is on the host to download {src}")


def _install_file(src: str, dest: str) -> Commands:
    # An armored key is dearmored: apt's signed-by wants a binary keyring.
    yield (
        f'if grep -q "BEGIN PGP PUBLIC KEY BLOCK" "{src}"; then '
        f'gpg --batch --dearmor -o "{dest}" "{src}"; '
        f'else cp "{src}" "{dest}"; fi'
    )
    yield from files.file._inner(path=dest, mode=KEY_MODE, present=True)


def _install_from_keyserver(keyserver: str, keyids: list[str], dest: str) -> Commands:
    joined = " ".join(keyids)
    home = _temp_path(f"gpg-keyserver-{joined}")
    yield from files.directory._inner(path=home, mode="0700", present=True)
    yield f'export GNUPGHOME="{home}" && gpg --batch --keyserver "{keyserver}" --recv-keys {joined}'
    yield f'export GNUPGHOME="{home}" && gpg --batch --export {joined} > "{dest}"'
    yield from files.directory._inner(path=home, present=False)
    yield from files.file._inner(path=dest, mode=KEY_MODE, present=True)


@operation()
def key(
    src: str | None = None,
    keyserver: str | None = None,
    keyid: str | list[str] | None = None,
    dest: str | None = None,
    present: bool = True,
) -> Commands:
    """Install a keyring from ``src`` (a file on the host or an http(s) URL; armored keys are
    dearmored) or from ``keyserver`` (with ``keyid``), or remove it.

    ``dest`` is a file name under /etc/apt/keyrings or an absolute path. Removing with only
    ``keyid`` takes those keys out of every keyring apt reads; with ``dest`` too, out of that
    keyring only; with ``dest`` alone, the file goes.
    """
    keyids = _as_ids(keyid)
    if not present and keyids and not (dest or src or keyserver):
        keyrings = host.get_fact(GpgKeyrings, directories=list(APT_KEYRING_DIRS)) or {}
        for path, keyring in keyrings.items():
            yield from _remove_keys(path, keyring, keyids)
        return

    if dest and not dest.startswith("/"):
        dest = f"{KEYRINGS}/{dest}"
    elif not dest:
        if src:
            dest = _default_dest(src, None)
        elif keyserver and keyids:
            dest = _default_dest(None, keyids)
        else:
            dest = f"{KEYRINGS}/apt-key.gpg"
    parent = str(PurePosixPath(dest).parent)

    if not present:
        if keyids:
            keyrings = host.get_fact(GpgKeyrings, directories=[parent]) or {}
            if dest in keyrings:
                yield from _remove_keys(dest, keyrings[dest], keyids)
        else:
            yield from files.file._inner(path=dest, present=False)
        return

    if not src and not keyserver:
        raise OperationValueError("apt.key needs src= (a key file or URL) or keyserver=")
    if keyserver and not keyids:
        raise OperationValueError("apt.key with keyserver= needs keyid= (the keys to fetch)")

    if keyids:
        keyring = (host.get_fact(GpgKeyrings, directories=[parent]) or {}).get(dest)
        existing = keyring["keys"] if keyring else None
        if existing is not None and all(
            any(_same_key(have, _clean(wanted)) for have in existing) for wanted in keyids
        ):
            yield from files.file._inner(path=dest, mode=KEY_MODE, present=True)
            host.noop(f"GPG keys {keyid} already exist in {dest}")
            return
    elif host.get_fact(File, path=dest):
        yield from files.file._inner(path=dest, mode=KEY_MODE, present=True)
        host.noop(f"GPG keyring {dest} already exists")
        return

    yield from files.directory._inner(path=parent, mode="0755", present=True)
    if src and urlparse(src).scheme in ("http", "https"):
        temp = _temp_path(src)
        yield from _download(src, temp)
        yield from _install_file(temp, dest)
        yield from files.file._inner(path=temp, present=False)
    elif src:
        yield from _install_file(src, dest)
    if keyserver:
        yield from _install_from_keyserver(keyserver, keyids, dest)
