"""Helpers for the acceptance tests of issue 3 (the deploy engine on real SSH hosts)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from agent.compat import run_deploy
from agent.engine.events import Event
from agent.engine.result import RunResult
from agent.engine.run import RunOptions
from tests.oracle import pullinfra_env, run_oracle

ROOT = Path(__file__).resolve().parents[2]
PULLINFRA = ROOT / ".venv" / "bin" / "pullinfra"


@pytest.fixture
def apply():
    """apply(inventory, *deploys, events=None, **RunOptions fields) -> RunResult (library API)."""

    def run(inventory: Path, *deploys: Path, events: list[Event] | None = None,
            **options) -> RunResult:
        sink = events.append if events is not None else None
        return run_deploy(inventory, list(deploys), RunOptions(**options), sink)

    return run


def pullinfra(*args: str | os.PathLike[str], timeout: float = 120,
              pythonpath: Sequence[str | os.PathLike[str]] = ()) -> subprocess.CompletedProcess:
    """The installed `pullinfra` console script, in its own process (`pythonpath` after the
    checkout on its PYTHONPATH)."""
    return subprocess.run([str(PULLINFRA), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=pullinfra_env(*pythonpath))


def real_python(code: str) -> subprocess.CompletedProcess:
    """Run python code with the oracle venv's interpreter, where real pyinfra is installed
    (pullinfra's own venv has none); a failing run is returned, not raised."""
    return run_oracle(code, cwd="/", check=False)


def statuses(result: RunResult, op_name: str) -> dict[str, str]:
    """{host: status} of one operation (by name) across every host of a run."""
    found = {}
    for host in result.hosts:
        for op in host.operations:
            if op.name == op_name:
                found[host.name] = op.status
    return found


def all_op_statuses(result: RunResult) -> dict[tuple[str, str], str]:
    return {(h.name, op.name): op.status for h in result.hosts for op in h.operations}


def order(result: RunResult) -> list[tuple[str, tuple[str, ...]]]:
    """The run's global order: (operation name, hosts) in the order they ran."""
    return [(op.name, tuple(sorted(op.hosts))) for op in result.operations]
