"""Shared fixtures: the test bed of real SSH hosts (see tests/testbed/__init__.py)."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

from tests.testbed import Bed, BedError, Host
from tests.testbed.aptrepo import AptRepo, AptRepoError, ensure_repo

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

BED_FIXTURES = {"bed", "bed_hosts", "bed_host", "bed_inventory", "bed_client_key",
                "bed_known_hosts", "apt_repo", "systemd_hosts", "systemd_host"}


def bed_unavailable(reason: str):
    """Fail in CI (the bed's tests must run there), skip elsewhere; always say why."""
    if IN_CI:
        pytest.fail(f"test bed unavailable in CI: {reason}", pytrace=False)
    pytest.skip(f"test bed unavailable: {reason}")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "bed: needs the test bed of real SSH hosts (network namespaces, root)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if BED_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.bed)


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """write(name, text) -> Path: a deploy/inventory/template file in tmp_path (dedented)."""

    def write_file(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    return write_file


@pytest.fixture(scope="session")
def _apt_repo_or_error() -> AptRepo | str:
    if os.geteuid() != 0:
        return "needs root"
    try:
        return ensure_repo()
    except (AptRepoError, OSError) as exc:
        return f"local apt repository could not be built: {exc}"


@pytest.fixture(scope="session")
def apt_repo(_apt_repo_or_error) -> AptRepo:
    """The local apt repository (already the only apt source of every bed host)."""
    if isinstance(_apt_repo_or_error, str):
        bed_unavailable(_apt_repo_or_error)
    return _apt_repo_or_error


@pytest.fixture(scope="session")
def bed(_apt_repo_or_error):
    """This worker's bed (hosts are added on demand; prefer bed_hosts for pristine hosts)."""
    if os.geteuid() != 0:
        bed_unavailable("needs root (network namespaces and overlay mounts)")
    repo = None if isinstance(_apt_repo_or_error, str) else _apt_repo_or_error.path
    try:
        b = Bed.create(0, apt_repo=repo)
    except (BedError, OSError) as exc:
        bed_unavailable(str(exc))
    yield b
    b.down()


@pytest.fixture
def bed_hosts(bed) -> Callable[[int], list[Host]]:
    """Factory: bed_hosts(n) -> n pristine hosts, distinct within the test."""
    taken = 0

    def get(n: int) -> list[Host]:
        nonlocal taken
        try:
            hosts = bed.pristine_hosts(n, skip=taken)
        except BedError as exc:
            bed_unavailable(str(exc))
        taken += n
        return hosts

    return get


@pytest.fixture
def bed_host(bed_hosts) -> Host:
    return bed_hosts(1)[0]


@pytest.fixture
def systemd_hosts(bed) -> Callable[[int], list[Host]]:
    """Factory: systemd_hosts(n) -> n pristine hosts that boot systemd (booted, sshd up),
    distinct within the test. The same bed, keys and known_hosts as bed_hosts' hosts."""
    taken = 0

    def get(n: int) -> list[Host]:
        nonlocal taken
        try:
            hosts = bed.pristine_hosts(n, skip=taken, systemd=True)
        except BedError as exc:
            bed_unavailable(str(exc))
        taken += n
        return hosts

    return get


@pytest.fixture
def systemd_host(systemd_hosts) -> Host:
    return systemd_hosts(1)[0]


@pytest.fixture(scope="session")
def bed_client_key(bed) -> Path:
    return bed.client_key


@pytest.fixture(scope="session")
def bed_known_hosts(bed) -> Path:
    return bed.known_hosts


@pytest.fixture
def bed_inventory(bed, tmp_path) -> Callable[..., Path]:
    """bed_inventory({"web-01": h1, "db-01": h2}, groups={...}, name="inventory.py") -> Path."""

    def make(hosts: Mapping[str, Host] | Sequence[Host],
             groups: Mapping[str, Sequence[str]] | None = None,
             name: str = "inventory.py") -> Path:
        return bed.write_inventory(tmp_path / name, hosts, groups)

    return make
