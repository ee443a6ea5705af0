"""Helpers for the acceptance tests of issue 3 (the deploy engine on real SSH hosts)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.engine.events import Event
from agent.engine.result import RunResult
from agent.engine.run import RunOptions, run_deploy

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


def pullinfra(*args: str | os.PathLike[str], timeout: float = 120) -> subprocess.CompletedProcess:
    """The installed `pullinfra` console script, in its own process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([str(PULLINFRA), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)


def real_python(code: str) -> subprocess.CompletedProcess:
    """Run python code with the venv's interpreter (where real pyinfra is installed)."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd="/")


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
