"""Commits for the corpus: the good one, each case's tree, and the generated contents too big
or too odd to keep in the repository (tests/badinput/corpus.py, `generate`)."""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.agent.gitfixtures import Remote, git
from tests.badinput.corpus import GOOD_FILE, MARKER, Case, render

GOOD_INVENTORY = "hosts = [{{HOSTS}}]\n"
GOOD_DEPLOY = f'''from pyinfra.operations import files

files.directory(name="badinput dir", path="{GOOD_FILE.rpartition("/")[0]}")
files.file(name="good file", path="{GOOD_FILE}")
'''
MARKER_DEPLOY = f'''from pyinfra.operations import files, server

server.shell(name="marker", commands=["touch {MARKER}"])
files.file(name="good file", path="{GOOD_FILE}")
'''
BLOB = "/srv/badinput/blob"


@dataclass(frozen=True)
class Link:
    """A symlink to commit (git stores the target as text)."""

    target: str


Tree = dict[str, "bytes | Link"]


def good_tree(hosts: Sequence[object]) -> Tree:
    return {"inventory.py": render(GOOD_INVENTORY, hosts).encode(),
            "deploy.py": GOOD_DEPLOY.encode()}


def case_tree(case: Case, hosts: Sequence[object], outside: Path) -> Tree:
    """The good inventory, the marker deploy (a refused case) or the good one (an applying
    case), then the case's own files and generated contents over them."""
    tree = good_tree(hosts)
    if case.refused:
        tree["deploy.py"] = MARKER_DEPLOY.encode()
    tree.update(case.files(hosts))
    if "generate" in case.expected:
        tree.update(GENERATORS[case.expected["generate"]](hosts, outside))
    return tree


def write_tree(root: Path, tree: Mapping[str, bytes | Link]) -> None:
    for name, content in tree.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Link):
            path.symlink_to(content.target)
        else:
            path.write_bytes(content)


def push_tree(remote: Remote, tree: Mapping[str, bytes | Link], message: str) -> str:
    """Commit exactly `tree` (every other file removed) and push it; the new SHA."""
    for child in remote.work.iterdir():
        if child.name == ".git":
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    write_tree(remote.work, tree)
    git("add", "--all", ".", cwd=remote.work)
    git("commit", "--quiet", "--allow-empty", "-m", message, cwd=remote.work)
    remote.push()
    return remote.head()


# ---- generated contents ----

def _binary_junk_deploy(hosts: Sequence[object], outside: Path) -> Tree:
    junk = bytearray(random.Random(15).randbytes(4096))
    junk[0] = 0xFF  # never a valid UTF-8 start, whatever the seed gives
    return {"deploy.py": bytes(junk)}


def _latin1_deploy(hosts: Sequence[object], outside: Path) -> Tree:
    return {"deploy.py": MARKER_DEPLOY.replace(
        "\n\n", "\n\n# caf\u00e9 owner: ops\n", 1).encode("latin-1")}


def _latin1_inventory(hosts: Sequence[object], outside: Path) -> Tree:
    text = render(GOOD_INVENTORY, hosts) + "# owned by the caf\u00e9 team\n"
    return {"inventory.py": text.encode("latin-1")}


def binary_blob() -> bytes:
    return random.Random(64).randbytes(64 * 1024)


def _binary_file_uploaded(hosts: Sequence[object], outside: Path) -> Tree:
    deploy = GOOD_DEPLOY + f'files.put(name="blob", src="files/blob.bin", dest="{BLOB}")\n'
    return {"files/blob.bin": binary_blob(), "deploy.py": deploy.encode()}


def _fifty_megabytes(hosts: Sequence[object], outside: Path) -> Tree:
    return {"data/big.bin": random.Random(50).randbytes(50 * 1024 * 1024)}


def _thousands_of_files(hosts: Sequence[object], outside: Path) -> Tree:
    return {f"data/d{i % 50:02d}/f{i:04d}.txt": f"file {i}\n".encode() for i in range(5000)}


def _symlink_put_source(hosts: Sequence[object], outside: Path) -> Tree:
    deploy = MARKER_DEPLOY + 'files.put(name="conf", src="files/app.conf", dest="/etc/app.conf")\n'
    return {"files/app.conf": Link("/etc/shadow"), "deploy.py": deploy.encode()}


def _outside_python(outside: Path, name: str, text: str) -> str:
    path = outside / name
    path.write_text(text)
    return str(path)


def _symlink_deploy(hosts: Sequence[object], outside: Path) -> Tree:
    return {"deploy.py": Link(_outside_python(outside, "deploy.py", MARKER_DEPLOY))}


def _symlink_inventory(hosts: Sequence[object], outside: Path) -> Tree:
    text = render(GOOD_INVENTORY, hosts)
    return {"inventory.py": Link(_outside_python(outside, "inventory.py", text))}


def _symlink_include(hosts: Sequence[object], outside: Path) -> Tree:
    deploy = MARKER_DEPLOY + 'from pyinfra import local\n\nlocal.include("tasks/common.py")\n'
    target = _outside_python(outside, "common.py", MARKER_DEPLOY)
    return {"tasks/common.py": Link(target), "deploy.py": deploy.encode()}


GENERATORS: dict[str, Callable[[Sequence[object], Path], Tree]] = {
    "binary_junk_deploy": _binary_junk_deploy,
    "latin1_deploy": _latin1_deploy,
    "latin1_inventory": _latin1_inventory,
    "binary_file_uploaded": _binary_file_uploaded,
    "fifty_megabytes": _fifty_megabytes,
    "thousands_of_files": _thousands_of_files,
    "symlink_put_source_escapes": _symlink_put_source,
    "symlink_deploy_escapes": _symlink_deploy,
    "symlink_inventory_escapes": _symlink_inventory,
    "symlink_include_escapes": _symlink_include,
}
