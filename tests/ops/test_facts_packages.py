"""deb/apt facts: parsers checked against the real dpkg-query / apt-cache of this machine."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from agent.catalogue.facts.apt import AptPolicy, AptSimulate
from agent.catalogue.facts.deb import DebPackage, DebPackages
from tests.ops.conftest import run_fact

needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="no dpkg here")


def _dpkg_version(package: str) -> str:
    return subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, check=True
    ).stdout


@needs_dpkg
def test_deb_packages_lists_installed_packages_with_versions() -> None:
    packages = run_fact(DebPackages)
    assert packages["dpkg"] == {_dpkg_version("dpkg")}
    assert all(isinstance(v, set) and v for v in packages.values())
    # Only installed packages: every name must be in state "installed" according to dpkg.
    states = subprocess.run(
        ["dpkg-query", "-W", "-f=${db:Status-Status} ${Package}\n"],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    not_installed = {line.split()[1] for line in states if not line.startswith("installed ")}
    assert not (set(packages) & not_installed)


def test_deb_packages_parser_keeps_only_installed_and_held() -> None:
    output = [
        "ii |nginx|1.22.1-9",
        "hi |held-pkg|2.0",
        "rc |removed-pkg|1.0",
        "iU |unpacked|3.0",
        "ii |libc6|2.36-9",
        "ii |libc6|2.36-9+deb12u4",
        "garbage",
    ]
    assert DebPackages().process(output) == {
        "nginx": {"1.22.1-9"},
        "held-pkg": {"2.0"},
        "libc6": {"2.36-9", "2.36-9+deb12u4"},
    }


def test_deb_packages_requires_dpkg_query() -> None:
    assert "command -v dpkg-query" in DebPackages().full_command()
    assert DebPackages().default() == {}


@needs_dpkg
def test_deb_package_single() -> None:
    assert run_fact(DebPackage, package="dpkg") == {
        "name": "dpkg",
        "version": _dpkg_version("dpkg"),
    }
    assert run_fact(DebPackage, package="no-such-package-pullinfra") is None


@needs_dpkg
def test_apt_policy_against_real_apt_cache() -> None:
    policy = run_fact(AptPolicy, packages=("dpkg", "no-such-package-pullinfra"))
    assert policy["dpkg"]["installed"] == _dpkg_version("dpkg")
    assert policy["dpkg"]["candidate"]
    assert "no-such-package-pullinfra" not in policy


def test_apt_policy_parser_none_values() -> None:
    output = [
        "nginx:",
        "  Installed: (none)",
        "  Candidate: 1.22.1-9",
        "  Version table:",
        "     1.22.1-9 500",
        "        500 http://deb.debian.org/debian bookworm/main amd64 Packages",
        "libc6:i386:",
        "  Installed: 2.36-9",
        "  Candidate: 2.36-9",
        "ghost:",
        "  Installed: (none)",
        "  Candidate: (none)",
        "  Version table:",
    ]
    assert AptPolicy().process(output) == {
        "nginx": {"installed": None, "candidate": "1.22.1-9"},
        "libc6": {"installed": "2.36-9", "candidate": "2.36-9"},
        "ghost": {"installed": None, "candidate": None},
    }


def test_apt_simulate_parser() -> None:
    output = [
        "Reading package lists...",
        "The following packages will be upgraded:",
        "  bash",
        "1 upgraded, 0 newly installed, 0 to remove and 2 not upgraded.",
        "Inst bash [5.2.15-2+b8] (5.2.15-2+b13 Debian:12 [amd64])",
    ]
    assert AptSimulate().process(output) == {
        "upgraded": 1,
        "newly_installed": 0,
        "removed": 0,
        "not_upgraded": 2,
    }
    assert AptSimulate().process(["nothing useful"]) == {}


@pytest.mark.skipif(shutil.which("apt-get") is None, reason="no apt here")
def test_apt_simulate_runs_for_real() -> None:
    value = run_fact(AptSimulate, command="upgrade")
    assert set(value) == {"upgraded", "newly_installed", "removed", "not_upgraded"}
