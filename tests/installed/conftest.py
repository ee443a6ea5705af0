"""Fixtures for the installed-product tests: the wheel, venvs built from it, smoke runs.

Every test here is in one xdist group, so the wheel and each venv are built once per run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.installed.smoke import Smoke
from tests.installed.venvs import RUNTIME_LOCK, build_wheel, make_venv


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/installed/" in item.nodeid:
            item.add_marker(pytest.mark.xdist_group("installed"))


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="session")
def locked_bin(tmp_path_factory, wheel) -> Path:
    """bin/ of a clean venv: the wheel and requirements/runtime.lock, hashes checked."""
    return make_venv(tmp_path_factory.mktemp("locked") / "venv", RUNTIME_LOCK, wheel)


@pytest.fixture
def make_smoke(bed_hosts, tmp_path) -> Callable[[Path, int], Smoke]:
    """make_smoke(bin_dir, n) -> a Smoke of that venv's pullinfra on n pristine hosts."""
    def make(bin_dir: Path, hosts: int) -> Smoke:
        return Smoke(bin_dir / "pullinfra", bed_hosts(hosts), tmp_path / "smoke")

    return make
