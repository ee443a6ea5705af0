"""Our fact parsers against real pyinfra's, on the same real shell output of this machine.

Real pyinfra runs in its own venv (tests/oracle.py): one oracle process per module runs
each of its facts' own commands and parsers and sends the values back as JSON, because
starting pyinfra once per comparison would cost most of a second each time. Both sides'
values go through the same `jsonable`, so sets and datetimes compare as equals only when
the parsed values are.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from agent.catalogue.facts import files as our_files
from agent.catalogue.facts import server as our_server
from tests.oracle import JSONABLE_SOURCE, as_json, oracle_json

STAT_FACTS = ("File", "Directory", "Link")
ENTRIES = ("f", "d", "l", "missing")
UNAME_FACTS = ("Os", "Arch", "Hostname")

THEIRS = JSONABLE_SOURCE + r'''
import importlib, json, subprocess, sys

def shell(command):
    text = command.get_raw_value() if hasattr(command, "get_raw_value") else str(command)
    proc = subprocess.run(["/bin/sh", "-c", text], capture_output=True, check=True)
    return proc.stdout.decode().splitlines()

results = {}
for key, (module, name, kwargs) in json.loads(sys.argv[1]).items():
    fact = getattr(importlib.import_module(f"pyinfra.facts.{module}"), name)()
    lines = shell(fact.command(**kwargs))
    results[key] = jsonable(fact.process(lines)) if lines else None
json.dump(results, sys.stdout)
'''


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("facts")
    (root / "f").write_text("data")
    (root / "d").mkdir()
    (root / "l").symlink_to(root / "f")
    (root / "h").write_text("one\ntwo\n")
    os.chmod(root / "f", 0o2750)
    # The two sides stat the entries a second apart. With atime in the future, relatime
    # never moves it (reading the link would, otherwise), and atime != mtime shows a parser
    # that swaps the two.
    now = time.time()
    for entry in ("f", "d", "l"):
        os.utime(root / entry, (now + 3600, now - 3600), follow_symlinks=False)
    return root


def _query(fact: str, tree: Path, entry: str | None) -> tuple[str, str, dict]:
    if entry is None:
        return "server", fact, {}
    return "files", fact, {"path": str(tree / entry)}


def _key(fact: str, entry: str | None = None) -> str:
    return f"{fact}:{entry or ''}"


@pytest.fixture(scope="module")
def theirs(tree: Path) -> dict[str, object]:
    """Every value real pyinfra parses for this module's tests, in one oracle process."""
    wanted = [(name, entry) for name in STAT_FACTS for entry in ENTRIES]
    wanted += [("Sha256File", "h"), ("FileContents", "h"), ("LinuxDistribution", None)]
    wanted += [(name, None) for name in UNAME_FACTS]
    queries = {_key(name, entry): _query(name, tree, entry) for name, entry in wanted}
    return oracle_json(THEIRS, [json.dumps(queries)])


def _shell(command: object) -> list[str]:
    text = command.get_raw_value() if hasattr(command, "get_raw_value") else str(command)
    proc = subprocess.run(["/bin/sh", "-c", text], capture_output=True, check=True)
    return proc.stdout.decode().splitlines()


def _ours(fact: type, **kwargs: object) -> object:
    lines = _shell(fact().full_command(**kwargs))
    return as_json(fact().process(lines) if lines else fact().default())


@pytest.mark.parametrize("name", STAT_FACTS)
def test_stat_facts_agree(tree: Path, theirs: dict, name: str) -> None:
    for entry in ENTRIES:
        ours = _ours(getattr(our_files, name), path=str(tree / entry))
        assert ours == theirs[_key(name, entry)], (name, entry)


def test_hash_and_contents_agree(tree: Path, theirs: dict) -> None:
    path = str(tree / "h")
    assert _ours(our_files.Sha256File, path=path) == theirs[_key("Sha256File", "h")] == (
        hashlib.sha256(b"one\ntwo\n").hexdigest()
    )
    their_lines = theirs[_key("FileContents", "h")]
    assert _ours(our_files.FileContents, path=path) == "\n".join(their_lines) + "\n"


def test_linux_distribution_agrees(theirs: dict) -> None:
    assert _ours(our_server.LinuxDistribution) == theirs[_key("LinuxDistribution")]


@pytest.mark.parametrize("name", UNAME_FACTS)
def test_uname_facts_agree(theirs: dict, name: str) -> None:
    assert _ours(getattr(our_server, name)) == theirs[_key(name)].strip()
