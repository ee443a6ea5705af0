"""The lock files agree with each other, with pyproject.toml's ranges, and with this venv.

The suite is only evidence about what users get if the test venv runs the runtime lock's
versions exactly; these checks fail when a lock is edited by hand, refreshed in part, or a
venv was left behind by an older lock.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

from tests.installed.venvs import PYPROJECT, ROOT, RUNTIME_LOCK, installed, normalise, pins

TEST_LOCK = ROOT / "requirements" / "test.lock"


def _project() -> dict:
    return tomllib.loads(PYPROJECT.read_text())["project"]


def test_the_test_lock_holds_the_runtime_lock_versions_exactly():
    runtime, test = pins(RUNTIME_LOCK.read_text()), pins(TEST_LOCK.read_text())
    assert {name: test.get(name) for name in runtime} == runtime


def test_every_locked_direct_dependency_is_inside_its_range():
    runtime = pins(RUNTIME_LOCK.read_text())
    test = pins(TEST_LOCK.read_text())
    requirements = [Requirement(r) for r in _project()["dependencies"]]
    requirements += [Requirement(r) for r in _project()["optional-dependencies"]["test"]]
    for requirement in requirements:
        name = normalise(requirement.name)
        locked = runtime.get(name) or test.get(name)
        assert locked is not None, f"{name} is in pyproject.toml but in no lock"
        assert requirement.specifier.contains(locked, prereleases=True), (
            f"{name} {locked} is locked, outside {requirement}: run bash scripts/lock.sh")


def test_this_venv_runs_exactly_the_test_lock():
    have = installed(Path(sys.executable).parent)
    assert have == pins(TEST_LOCK.read_text()), (
        "the test venv differs from requirements/test.lock: run scripts/bootstrap.sh")
