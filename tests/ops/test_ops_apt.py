"""apt operations: command generation from package and cache facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from agent.catalogue.facts.apt import AptPolicy, AptSimulate
from agent.catalogue.facts.deb import DebPackages
from agent.catalogue.facts.files import File
from agent.catalogue.facts.server import Date
from agent.catalogue.operations import apt
from tests.ops.conftest import FakeHost, run_op

APT = (
    "DEBIAN_FRONTEND=noninteractive apt-get -y "
    '-o Dpkg::Options::="--force-confdef" -o Dpkg::Options::="--force-confold"'
)
TOUCH = "mkdir -p /var/lib/apt/periodic && touch /var/lib/apt/periodic/update-success-stamp"
NOW = datetime(2024, 5, 1, 14, 0, 0, tzinfo=timezone(timedelta(hours=2)))


def _stamp(fake: FakeHost, age: timedelta | None) -> None:
    info = None
    if age is not None:
        mtime = NOW.astimezone(UTC).replace(tzinfo=None) - age
        info = {"user": "root", "group": "root", "mode": 644, "size": 0, "mtime": mtime}
    fake.fact(File, info, path=apt.APT_UPDATE_STAMP).fact(Date, NOW)


def test_update_always_runs_without_cache_time(fake: FakeHost) -> None:
    assert run_op(fake, apt.update) == [f"{APT} update", TOUCH]
    assert apt.update.definition.is_idempotent is False


def test_update_respects_cache_time(fake: FakeHost) -> None:
    _stamp(fake, timedelta(minutes=10))
    assert run_op(fake, apt.update, cache_time=3600) == []
    assert fake.noops == ["apt cache is newer than 3600s"]
    assert run_op(fake, apt.update, cache_time=300) == [f"{APT} update", TOUCH]


def test_update_without_stamp_runs(fake: FakeHost) -> None:
    _stamp(fake, None)
    assert run_op(fake, apt.update, cache_time=3600) == [f"{APT} update", TOUCH]


def test_packages_installs_only_missing(fake: FakeHost) -> None:
    fake.fact(DebPackages, {"htop": {"3.2.2-2"}})
    commands = run_op(fake, apt.packages, ["htop", "iftop"])
    assert commands == [f"{APT} install iftop"]
    assert fake.noops == ["package htop is installed (3.2.2-2)"]


def test_packages_seed_example_with_fresh_cache_is_idempotent(fake: FakeHost) -> None:
    _stamp(fake, timedelta(minutes=5))
    fake.fact(DebPackages, {"htop": {"3.2.2-2"}, "iftop": {"1.0~pre4-9"}})
    assert run_op(
        fake, apt.packages, packages=["htop", "iftop"], update=True, cache_time=3600
    ) == []


def test_packages_update_first_then_install(fake: FakeHost) -> None:
    _stamp(fake, timedelta(hours=2))
    fake.fact(DebPackages, {})
    assert run_op(fake, apt.packages, "nginx", update=True, cache_time=3600) == [
        f"{APT} update",
        TOUCH,
        f"{APT} install nginx",
    ]


def test_packages_pinned_versions(fake: FakeHost) -> None:
    fake.fact(DebPackages, {"nginx": {"1.22.1-9"}})
    assert run_op(fake, apt.packages, "nginx=1.22.1-9") == []
    assert run_op(fake, apt.packages, "nginx=1.22.1-10", allow_downgrades=True) == [
        f"{APT} install --allow-downgrades nginx=1.22.1-10"
    ]


def test_packages_install_flags(fake: FakeHost) -> None:
    fake.fact(DebPackages, {})
    commands = run_op(
        fake, apt.packages, ["a"], no_recommends=True, force=True, extra_install_args="-t bpo"
    )
    assert commands == [
        "DEBIAN_FRONTEND=noninteractive apt-get -y --force-yes "
        '-o Dpkg::Options::="--force-confdef" -o Dpkg::Options::="--force-confold" '
        "install --no-install-recommends -t bpo a"
    ]


def test_packages_remove(fake: FakeHost) -> None:
    fake.fact(DebPackages, {"nginx": {"1.22.1-9"}})
    assert run_op(fake, apt.packages, ["nginx", "apache2"], present=False) == [
        f"{APT} remove nginx"
    ]
    assert "package apache2 is not installed" in fake.noops
    assert run_op(fake, apt.packages, "nginx", present=False, purge=True,
                  extra_uninstall_args="--autoremove") == [f"{APT} purge --autoremove nginx"]
    assert run_op(fake, apt.packages, "nginx=9.9", present=False) == []


def test_packages_latest_upgrades_only_with_newer_candidate(fake: FakeHost) -> None:
    fake.fact(DebPackages, {"bash": {"5.2.15-2+b8"}, "dpkg": {"1.21.22"}})
    fake.fact(
        AptPolicy,
        {
            "bash": {"installed": "5.2.15-2+b8", "candidate": "5.2.15-2+b13"},
            "dpkg": {"installed": "1.21.22", "candidate": "1.21.22"},
        },
        packages=("bash", "dpkg"),
    )
    commands = run_op(fake, apt.packages, ["bash", "dpkg", "curl"], latest=True)
    assert commands == [f"{APT} install curl", f"{APT} install bash"]
    assert "package dpkg is up to date (1.21.22)" in fake.noops


def test_packages_latest_second_run_is_quiet(fake: FakeHost) -> None:
    fake.fact(DebPackages, {"bash": {"5.2.15-2+b13"}})
    fake.fact(
        AptPolicy,
        {"bash": {"installed": "5.2.15-2+b13", "candidate": "5.2.15-2+b13"}},
        packages=("bash",),
    )
    assert run_op(fake, apt.packages, "bash", latest=True) == []


def test_packages_upgrade_uses_simulation(fake: FakeHost) -> None:
    fake.fact(DebPackages, {"bash": {"1"}})
    none = {"upgraded": 0, "newly_installed": 0, "removed": 0, "not_upgraded": 3}
    fake.fact(AptSimulate, none, command="upgrade")
    assert run_op(fake, apt.packages, "bash", upgrade=True) == []
    fake.fact(AptSimulate, {**none, "upgraded": 2}, command="upgrade")
    assert run_op(fake, apt.packages, "bash", upgrade=True) == [f"{APT} upgrade"]


def test_packages_quote_names(fake: FakeHost) -> None:
    fake.fact(DebPackages, {})
    assert run_op(fake, apt.packages, ["x; rm -rf /"]) == [f"{APT} install 'x; rm -rf /'"]


def test_no_packages_yields_nothing(fake: FakeHost) -> None:
    assert run_op(fake, apt.packages) == []
    assert run_op(fake, apt.packages, []) == []


@pytest.mark.parametrize("op", [apt.packages, apt.update, apt.upgrade])
def test_ops_are_registered_under_pyinfra_names(op: object) -> None:
    assert op.definition.full_name.startswith("apt.")  # type: ignore[attr-defined]
