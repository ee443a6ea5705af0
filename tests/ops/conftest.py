"""Helpers for the catalogue tests: a real-shell fact runner and a small fake host.

The fake host answers facts from a dict keyed by (fact name, kwargs), so an operation test
reads as "these facts in, these commands out". It is bound through the engine's own
`bound_host`, exactly as the engine binds a real Host.
"""

from __future__ import annotations

import inspect
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.catalogue.facts.files import Directory, File, PathState, Sha256File
from agent.engine.command import FileUploadCommand, FunctionCommand, StringCommand
from agent.engine.context import bound_host
from agent.engine.fact import FactBase


def run_fact(fact_cls: type[FactBase[Any]], env: dict[str, str] | None = None, **kwargs: Any):
    """Run a fact's command through /bin/sh here and parse it as the engine does."""
    fact = fact_cls()
    command = StringCommand(fact.full_command(**kwargs)).get_raw_value()
    proc = subprocess.run(
        ["/bin/sh", "-c", command], capture_output=True, env=env, check=False
    )
    assert proc.returncode == 0, (command, proc.returncode, proc.stderr)
    lines = proc.stdout.decode("utf-8", errors="replace").splitlines()
    if not lines:
        return fact.default()
    return fact.process(lines)


def _key(fact_cls: type[FactBase[Any]], kwargs: dict[str, Any]) -> tuple[str, str]:
    return fact_cls.name, repr(sorted(kwargs.items()))


class FakeData(dict):
    def __getattr__(self, key: str) -> Any:
        return self.get(key)


class FakeHost:
    """Just the host API operations use (see docs/engine-seam.md)."""

    def __init__(self, local_dir: Path | None = None, name: str = "fake-host") -> None:
        self.name = name
        self.groups: list[str] = []
        self.data = FakeData()
        self.facts: dict[tuple[str, str], Any] = {}
        self.files: dict[str, bytes] = {}
        self.noops: list[str] = []
        self.diffs: list[tuple[str, str | None, str]] = []
        self.fact_reads: list[tuple[str, dict[str, Any]]] = []
        self.local_dir = local_dir or Path("/nonexistent-deploy-dir")
        self.memos: dict[Any, Any] = {}

    def fact(self, fact_cls: type[FactBase[Any]], value: Any, **kwargs: Any) -> FakeHost:
        self.facts[_key(fact_cls, kwargs)] = value
        return self

    def get_fact(self, fact_cls: type[FactBase[Any]], **kwargs: Any) -> Any:
        # The kwargs must be ones the fact's command() really takes.
        inspect.signature(fact_cls().command).bind(**kwargs)
        fact_cls().command(**kwargs)
        self.fact_reads.append((fact_cls.name, kwargs))
        if fact_cls is PathState:
            return self._path_state(**kwargs)
        return self._given(fact_cls, kwargs)

    def _given(self, fact_cls: type[FactBase[Any]], kwargs: dict[str, Any]) -> Any:
        key = _key(fact_cls, kwargs)
        if key not in self.facts:
            raise KeyError(f"test did not provide fact {key}")
        return self.facts[key]

    def _path_state(self, path: str, checksum: bool = False, parent: str | None = None) -> Any:
        """PathState from the File, Sha256File and Directory facts the test gave, each read
        under the condition the real command reads it."""
        info = self._given(File, {"path": path})
        digest = self._given(Sha256File, {"path": path}) if checksum and info else None
        missing = parent is not None and info is None
        return info, digest, self._given(Directory, {"path": parent}) if missing else None

    def noop(self, reason: str) -> None:
        self.noops.append(reason)

    def record_diff(self, path: str, before: str | None, after: str) -> None:
        self.diffs.append((path, before, after))

    def local_roots(self) -> list[Path]:
        return [self.local_dir]

    def local_path(self, src: str, add_deploy_dir: bool = True) -> Path:
        path = Path(src)
        return path if path.is_absolute() or not add_deploy_dir else self.local_dir / path

    def get_file(self, remote_path: str) -> bytes | None:
        return self.files.get(remote_path)

    def memo(self, key: Any, make: Any) -> Any:
        if key not in self.memos:
            self.memos[key] = make()
        return self.memos[key]


def render(command: Any) -> Any:
    if isinstance(command, str):
        return command
    if isinstance(command, StringCommand):
        return command.get_raw_value()
    if isinstance(command, FileUploadCommand):
        return ("upload", command.read_bytes(), command.dest)
    if isinstance(command, FunctionCommand):
        return ("function", command.function)
    raise AssertionError(f"unexpected command {command!r}")


def run_op(fake: FakeHost, op: Any, *args: Any, **kwargs: Any) -> list[Any]:
    """Run the operation's generator against the fake host and render what it yields."""
    with bound_host(fake):  # type: ignore[arg-type]
        return [render(command) for command in op._inner(*args, **kwargs)]


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeHost]:
    yield FakeHost(local_dir=tmp_path)


def local_deploy(tmp_path: Path, code: str) -> tuple[str, list[str]]:
    """A deploy file of `code` and an @local inventory, as run_deploy's first two arguments:
    for the tests that an operation's argument error names the deploy's file:line."""
    deploy = tmp_path / "deploy.py"
    deploy.write_text(code)
    inventory = tmp_path / "inventory.py"
    inventory.write_text("hosts = ['@local']\n")
    return str(inventory), [str(deploy)]
