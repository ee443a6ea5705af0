"""The product as users install it: the wheel in a clean venv with only the runtime lock.

The test venv runs the tests, never pullinfra: pullinfra runs from the clean venv's own
`bin/pullinfra`, so nothing that only the test venv has (pytest, its dependencies) can hide
a dependency that the wheel's users would lack.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.installed.smoke import SCENARIOS
from tests.installed.venvs import RUNTIME_LOCK, installed, pins


def test_the_clean_venv_holds_exactly_the_runtime_lock(locked_bin):
    assert installed(locked_bin) == pins(RUNTIME_LOCK.read_text())
    wheel = subprocess.run([str(locked_bin / "python"), "-c",
                            "import importlib.metadata as m; print(m.version('pullinfra'))"],
                           capture_output=True, text=True, check=True)
    assert wheel.stdout.strip() == "0.1.0"


def test_the_installed_command_runs_outside_the_checkout(locked_bin, tmp_path):
    """Not importing agent/ from the working tree by accident: run from elsewhere."""
    proc = subprocess.run([str(locked_bin / "python"), "-c",
                           "import agent, sys; print(agent.__file__)"],
                          cwd=tmp_path, capture_output=True, text=True, check=True)
    assert str(locked_bin.parent) in proc.stdout, proc.stdout
    version = subprocess.run([str(locked_bin / "pullinfra"), "--version"], cwd=tmp_path,
                             capture_output=True, text=True)
    assert version.returncode == 0 and "0.1.0" in version.stdout + version.stderr


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_smoke(locked_bin, make_smoke, name):
    scenario, hosts = SCENARIOS[name]
    scenario(make_smoke(locked_bin, hosts))
