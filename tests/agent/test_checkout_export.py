"""The per-commit export never writes outside its own directory, whatever the tree holds.

Trees are built object by object (git mktree), so they hold what a hostile push could: links
to folders of the agent's machine, a file "through" a linked folder, names with newlines,
leading dashes and unicode, submodules, and names git refuses. After each export, a folder
outside holding a file is exactly as it was (names, contents, permission bits: chmod follows
symlinks, so making the export read-only must not reach through them), and removing the
export leaves it too.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from git import Git

from agent.source.checkout import export_tree, remove_tree
from agent.source.errors import CheckoutError
from tests.agent.gitfixtures import HERMETIC_ENV, git

FILE, LINK, TREE, GITLINK = "100644", "120000", "040000", "160000"
Entry = tuple[str, str, object]  # mode, name, content (text, entries, or a commit sha)


def _plumb(bare: Path, *args: str, data: bytes = b"") -> str:
    done = subprocess.run(["git", f"--git-dir={bare}", *args], input=data, check=True,
                          capture_output=True, env={**os.environ, **HERMETIC_ENV})
    return done.stdout.decode().strip()


def _tree(bare: Path, entries: list[Entry]) -> str:
    records = []
    for mode, name, content in entries:
        if mode == TREE:
            kind, sha = "tree", _tree(bare, content)  # type: ignore[arg-type]
        elif mode == GITLINK:
            kind, sha = "commit", str(content)
        else:
            kind = "blob"
            sha = _plumb(bare, "hash-object", "-w", "--stdin", data=str(content).encode())
        records.append(f"{mode} {kind} {sha}\t{name}".encode())
    return _plumb(bare, "mktree", "-z", "--missing", data=b"\0".join(records) + b"\0")


def _commit(bare: Path, entries: list[Entry]) -> str:
    return _plumb(bare, "commit-tree", "-m", "tree", _tree(bare, entries))


def _snapshot(folder: Path) -> dict[str, tuple[int, bytes | str]]:
    """Every entry below `folder` (and itself): its mode and content or link target."""
    found: dict[str, tuple[int, bytes | str]] = {}
    for directory, dirs, files in os.walk(folder):
        for name in [".", *dirs, *files]:
            path = Path(directory, name)
            mode = path.lstat().st_mode
            content: bytes | str = ""
            if stat.S_ISLNK(mode):
                content = os.readlink(path)
            elif stat.S_ISREG(mode):
                content = path.read_bytes()
            found[str(path.relative_to(folder))] = (mode, content)
    return found


@pytest.fixture
def bare(tmp_path: Path) -> Path:
    path = tmp_path / "remote.git"
    git("init", "--quiet", "--bare", str(path))
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A writable folder of the agent's machine, next to the exports."""
    folder = tmp_path / "outside"
    (folder / "inner").mkdir(parents=True)
    (folder / "secret.txt").write_text("agent-only\n")
    (folder / "inner" / "deep.txt").write_text("deep\n")
    folder.chmod(0o777)
    (folder / "secret.txt").chmod(0o666)
    return folder


def _export(bare: Path, tmp_path: Path, revision: str) -> Path:
    return export_tree(Git(), bare, revision, tmp_path / "checkouts", timeout=60)


def test_odd_trees_are_written_inside_the_export_only(
    bare: Path, tmp_path: Path, outside: Path
) -> None:
    before = _snapshot(outside)
    submodule = _commit(bare, [(FILE, "x", "x\n")])
    odd = ["new\nline.py", "-rf", "--force", "ünïcødé ✓.txt", " spaced ", "a\\b", "*"]
    revision = _commit(bare, [
        *[(FILE, name, f"{name}\n") for name in odd],
        (LINK, "abs-link", str(outside)),
        (LINK, "up-link", "../../outside/secret.txt"),
        (LINK, "secret.txt", str(outside / "secret.txt")),
        (TREE, "files", [(LINK, "inner", str(outside / "inner")), (FILE, "ok", "ok\n")]),
        (GITLINK, "vendor", submodule),
    ])

    export = _export(bare, tmp_path, revision)

    assert _snapshot(outside) == before  # nothing written, and no mode changed, outside
    assert export.parent == tmp_path / "checkouts"
    for name in odd:
        assert (export / name).read_text() == f"{name}\n"
    assert os.readlink(export / "abs-link") == str(outside)
    assert os.readlink(export / "up-link") == "../../outside/secret.txt"
    assert os.readlink(export / "files" / "inner") == str(outside / "inner")
    assert (export / "vendor").is_dir() and not any((export / "vendor").iterdir())
    assert not stat.S_IMODE((export / "files" / "ok").stat().st_mode) & 0o222
    assert not stat.S_IMODE((export / "files").stat().st_mode) & 0o222

    remove_tree(export)
    assert not export.exists()
    assert _snapshot(outside) == before


def test_a_file_through_a_linked_folder_is_not_written_outside(
    bare: Path, tmp_path: Path, outside: Path
) -> None:
    """A tree can hold `link` twice, as a link to a folder outside and as a folder with a
    file in it; git keeps one, and never writes through the link."""
    before = _snapshot(outside)
    revision = _commit(bare, [
        (LINK, "link", str(outside)),
        (TREE, "link", [(FILE, "planted.txt", "planted\n")]),
    ])
    export = _export(bare, tmp_path, revision)
    assert _snapshot(outside) == before
    assert not (outside / "planted.txt").exists()
    assert export.is_dir()


@pytest.mark.parametrize("name", ["..", ".git", ".GIT"])
def test_names_git_refuses_fail_the_export_and_leave_nothing(
    bare: Path, tmp_path: Path, outside: Path, name: str
) -> None:
    before = _snapshot(outside)
    revision = _commit(bare, [(TREE, name, [(FILE, "hooks", "planted\n")])])
    with pytest.raises(CheckoutError):
        _export(bare, tmp_path, revision)
    assert _snapshot(outside) == before
    assert list((tmp_path / "checkouts").iterdir()) == []
    assert not (tmp_path / "hooks").exists()
