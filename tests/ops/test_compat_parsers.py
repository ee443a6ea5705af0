"""Our fact parsers against real pyinfra's, on the same real shell output of this machine.

Real pyinfra is installed in the venv for compat tests only; agent code never imports it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from agent.engine.facts import files as our_files
from agent.engine.facts import server as our_server

pyinfra_files = pytest.importorskip("pyinfra.facts.files")
pyinfra_server = pytest.importorskip("pyinfra.facts.server")


def _shell(command: object) -> list[str]:
    text = command.get_raw_value() if hasattr(command, "get_raw_value") else str(command)
    proc = subprocess.run(["/bin/sh", "-c", text], capture_output=True, check=True)
    return proc.stdout.decode().splitlines()


def _ours(fact: type, **kwargs: object) -> object:
    lines = _shell(fact().full_command(**kwargs))
    return fact().process(lines) if lines else fact().default()


def _theirs(fact: type, **kwargs: object) -> object:
    instance = fact()
    lines = _shell(instance.command(**kwargs))
    if not lines:
        return None
    return instance.process(lines)


@pytest.mark.parametrize("name", ["File", "Directory", "Link"])
def test_stat_facts_agree(tmp_path: Path, name: str) -> None:
    (tmp_path / "f").write_text("data")
    (tmp_path / "d").mkdir()
    (tmp_path / "l").symlink_to(tmp_path / "f")
    os.chmod(tmp_path / "f", 0o2750)
    ours, theirs = getattr(our_files, name), getattr(pyinfra_files, name)
    for entry in ("f", "d", "l", "missing"):
        path = str(tmp_path / entry)
        assert _ours(ours, path=path) == _theirs(theirs, path=path), (name, entry)


def test_hash_and_contents_agree(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("one\ntwo\n")
    assert _ours(our_files.Sha256File, path=str(path)) == _theirs(
        pyinfra_files.Sha256File, path=str(path)
    ) == hashlib.sha256(b"one\ntwo\n").hexdigest()
    their_lines = _theirs(pyinfra_files.FileContents, path=str(path))
    assert _ours(our_files.FileContents, path=str(path)) == "\n".join(their_lines) + "\n"


def test_linux_distribution_agrees() -> None:
    assert _ours(our_server.LinuxDistribution) == _theirs(pyinfra_server.LinuxDistribution)


@pytest.mark.parametrize("name", ["Os", "Arch", "Hostname"])
def test_uname_facts_agree(name: str) -> None:
    assert _ours(getattr(our_server, name)) == _theirs(getattr(pyinfra_server, name)).strip()
