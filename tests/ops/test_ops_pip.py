"""pip.virtualenv, pip.venv, pip.packages and the PipPackages fact: facts in, commands out."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.catalogue.facts.files import Directory, File
from agent.catalogue.facts.pip import Pip3Packages, PipPackages
from agent.catalogue.operations import pip
from agent.catalogue.operations.pip import _Wanted
from agent.compat import run_deploy
from agent.vocab import OpStatus
from tests.ops.conftest import FakeHost, local_deploy, run_op

FILE_INFO = {"user": "root", "group": "root", "mode": 644, "size": 1}
VENV_PIP = "/opt/venv/bin/pip"
FIND_LINKS = "--no-index --find-links /srv/wheels"


def _venv(fake: FakeHost, path: str = "/opt/venv", exists: bool = True) -> FakeHost:
    return fake.fact(File, FILE_INFO if exists else None, path=f"{path}/bin/activate")


# --------------------------------------------------------------------------- PipPackages


def test_fact_reads_pip_freeze_output() -> None:
    parsed = PipPackages().process([
        "pip==23.0.1",
        "PyYAML==6.0.1",
        "pullinfra_other==0.1",
        "pkg==1.0rc1",
        "-e git+https://example.com/repo.git@abc#egg=local",
        "direct @ file:///srv/wheels/direct-1.0-py3-none-any.whl",
        "",
    ])
    assert parsed == {"pip": {"23.0.1"}, "PyYAML": {"6.0.1"}, "pullinfra_other": {"0.1"},
                      "pkg": {"1.0rc1"}}


def test_fact_command_names_the_pip_it_asks() -> None:
    assert PipPackages().command() == "pip freeze --all"
    assert PipPackages().requires_command() == "pip"
    assert PipPackages().full_command(pip=VENV_PIP) == (
        f"! command -v {VENV_PIP} >/dev/null || ({VENV_PIP} freeze --all)")
    assert Pip3Packages().command() == "pip3 freeze --all"
    assert PipPackages().default() == {}


# --------------------------------------------------------------------------- virtualenv / venv


def test_virtualenv_is_made_with_the_virtualenv_tool(fake: FakeHost) -> None:
    _venv(fake, exists=False)
    assert run_op(fake, pip.virtualenv, path="/opt/venv") == ["virtualenv /opt/venv"]
    assert run_op(fake, pip.virtualenv, path="/opt/venv", python="python3.11",
                  site_packages=True, always_copy=True) == [
        "virtualenv -p python3.11 --system-site-packages --always-copy /opt/venv"]


def test_venv_uses_the_interpreters_module(fake: FakeHost) -> None:
    _venv(fake, exists=False)
    assert run_op(fake, pip.venv, path="/opt/venv") == ["python -m venv /opt/venv"]
    assert run_op(fake, pip.venv, path="/opt/venv", python="/usr/bin/python3",
                  always_copy=True, site_packages=True) == [
        "/usr/bin/python3 -m venv --system-site-packages --copies /opt/venv"]
    assert run_op(fake, pip.virtualenv, path="/opt/venv", venv=True, python="python3") == [
        "python3 -m venv /opt/venv"]


def test_existing_virtualenv_is_no_change(fake: FakeHost) -> None:
    _venv(fake)
    assert run_op(fake, pip.venv, path="/opt/venv", python="python3") == []
    assert run_op(fake, pip.virtualenv, path="/opt/venv") == []
    assert fake.noops == ["virtualenv /opt/venv exists"] * 2


def test_absent_virtualenv_is_removed_or_no_change(fake: FakeHost) -> None:
    _venv(fake)
    fake.fact(Directory, {**FILE_INFO, "mode": 755}, path="/opt/venv")
    assert run_op(fake, pip.venv, path="/opt/venv", present=False) == ["rm -rf /opt/venv"]
    _venv(fake, exists=False)
    assert run_op(fake, pip.virtualenv, path="/opt/venv", present=False) == []
    assert fake.noops == ["virtualenv /opt/venv does not exist"]


def test_directory_without_activate_is_made_over(fake: FakeHost) -> None:
    """An empty or half-made directory is no virtualenv: only bin/activate counts."""
    _venv(fake, path="/srv/my env", exists=False)
    assert run_op(fake, pip.venv, path="/srv/my env", python="python3") == [
        "python3 -m venv '/srv/my env'"]


# --------------------------------------------------------------------------- packages


def test_installs_missing_and_wrong_version_packages_in_a_virtualenv(fake: FakeHost) -> None:
    # The trailing slash stays in the activate path and the venv command, as in pyinfra.
    _venv(fake, path="/opt/venv/", exists=False)
    fake.fact(PipPackages, {"pip": {"23.0.1"}, "Pullinfra-Demo": {"1.0"}}, pip=VENV_PIP)
    commands = run_op(fake, pip.packages, packages=["pullinfra-demo==2.0", "other", "pip"],
                      virtualenv="/opt/venv/", virtualenv_kwargs={"venv": True,
                                                                  "python": "python3"},
                      extra_install_args=FIND_LINKS)
    assert commands == [
        "python3 -m venv /opt/venv/",
        f"{VENV_PIP} install {FIND_LINKS} pullinfra-demo==2.0 other",
    ]
    assert fake.noops == ["package pip is installed (23.0.1)"]


def test_installed_packages_are_no_change(fake: FakeHost) -> None:
    _venv(fake)
    fake.fact(PipPackages, {"PyYAML": {"6.0.1"}, "click": {"8.1.7"}}, pip=VENV_PIP)
    assert run_op(fake, pip.packages, packages=["pyyaml==6.0.1", "Click"],
                  virtualenv="/opt/venv") == []
    assert fake.noops == ["virtualenv /opt/venv exists", "package pyyaml is installed (6.0.1)",
                          "package click is installed (8.1.7)"]


def test_system_pip_and_a_pip_name(fake: FakeHost) -> None:
    fake.fact(PipPackages, {}, pip="pip3")
    assert run_op(fake, pip.packages, packages="requests>=2", pip="pip3") == [
        "pip3 install 'requests>=2'"]
    _venv(fake, path="/srv/my env")
    fake.fact(PipPackages, {}, pip="'/srv/my env'/bin/pip3")
    assert run_op(fake, pip.packages, packages="a", pip="pip3", virtualenv="/srv/my env") == [
        "'/srv/my env'/bin/pip3 install a"]


def test_latest_upgrades_every_unpinned_installed_package(fake: FakeHost) -> None:
    """pip alone knows whether a newer version exists, so the upgrade runs each time."""
    _venv(fake)
    fake.fact(PipPackages, {"pullinfra-demo": {"1.0"}, "pinned": {"1.0"}}, pip=VENV_PIP)
    assert run_op(fake, pip.packages, packages=["pullinfra-demo", "pinned==1.0", "new"],
                  latest=True, virtualenv="/opt/venv", extra_install_args=FIND_LINKS) == [
        f"{VENV_PIP} install {FIND_LINKS} new",
        f"{VENV_PIP} install {FIND_LINKS} --upgrade pullinfra-demo",
    ]
    assert fake.noops == ["virtualenv /opt/venv exists"]


def test_absent_packages_are_uninstalled(fake: FakeHost) -> None:
    _venv(fake)
    fake.fact(PipPackages, {"pullinfra-demo": {"2.0"}, "other": {"1.0"}}, pip=VENV_PIP)
    assert run_op(fake, pip.packages, packages=["pullinfra-demo", "other==3.0", "gone"],
                  present=False, virtualenv="/opt/venv") == [
        f"{VENV_PIP} uninstall --yes pullinfra-demo"]
    assert fake.noops == ["virtualenv /opt/venv exists", "package other is not installed",
                          "package gone is not installed"]


def test_requirements_file_is_handed_to_pip_each_run(fake: FakeHost) -> None:
    _venv(fake)
    base = {"requirements": "/srv/req s.txt", "virtualenv": "/opt/venv"}
    assert run_op(fake, pip.packages, **base, extra_install_args=FIND_LINKS) == [
        f"{VENV_PIP} install {FIND_LINKS} -r '/srv/req s.txt'"]
    assert run_op(fake, pip.packages, **base, latest=True) == [
        f"{VENV_PIP} install --upgrade -r '/srv/req s.txt'"]
    assert run_op(fake, pip.packages, **base, present=False) == [
        f"{VENV_PIP} uninstall --yes -r '/srv/req s.txt'"]


@pytest.mark.parametrize(("text", "name", "version", "arg"), [
    ("Requests==2.31.0", "requests", "2.31.0", "requests==2.31.0"),
    ("pkg (>=1.0)", "pkg", "1.0", "'pkg>=1.0'"),
    ("pkg==1.0; python_version > '3'", "pkg", "1.0", "pkg==1.0"),
    ("pkg @ file:///srv/wheels/pkg-1.0-py3-none-any.whl", "pkg", "",
     "file:///srv/wheels/pkg-1.0-py3-none-any.whl"),
    # Extras stay in what pip gets (docs/catalogue.md, "pip").
    ("pkg[a, b]==2.0", "pkg", "2.0", "'pkg[a,b]==2.0'"),
    # Not one PEP 508 specifier: looked up and installed as given, as pyinfra does.
    ("pkg>=1,<2", "pkg>=1,<2", "", "'pkg>=1,<2'"),
    ("pkg==", "pkg==", "", "pkg=="),
])
def test_requirement_parsing(text: str, name: str, version: str, arg: str) -> None:
    assert _Wanted.parse(text) == _Wanted(name, version, arg)


def test_bad_packages_fail_at_the_deploy_line(tmp_path: Path) -> None:
    inventory, deploys = local_deploy(tmp_path, "from pyinfra.operations import pip\n\n"
        "pip.packages(name='bad', packages={'requests': '2.0'})\n")
    result = run_deploy(inventory, deploys)
    [op] = result.host("@local").operations
    assert op.status == OpStatus.FAILED
    assert f"{deploys[0]}:3" in (op.error or "")
    assert "list of names" in (op.error or "")


def test_empty_venv_path_fails_at_the_deploy_line(tmp_path: Path) -> None:
    inventory, deploys = local_deploy(tmp_path, "from pyinfra.operations import pip\n\n"
        "pip.venv(name='bad', path='')\n")
    result = run_deploy(inventory, deploys)
    [op] = result.host("@local").operations
    assert op.status == OpStatus.FAILED
    assert f"{deploys[0]}:3" in (op.error or "")
    assert "path='/opt/venv'" in (op.error or "")


def test_unknown_virtualenv_kwargs_fail_at_the_deploy_line(tmp_path: Path) -> None:
    inventory, deploys = local_deploy(tmp_path, "from pyinfra.operations import pip\n\n"
        "pip.packages(name='bad', packages=['a'], virtualenv='/opt/v',\n"
        "             virtualenv_kwargs={'venv': True, 'pyhton': 'python3'})\n")
    result = run_deploy(inventory, deploys)
    [op] = result.host("@local").operations
    assert op.status == OpStatus.FAILED
    assert f"{deploys[0]}:3" in (op.error or "")
    assert "unknown 'pyhton'" in (op.error or "")


def test_a_set_of_packages_is_installed_in_name_order(fake: FakeHost) -> None:
    fake.fact(PipPackages, {}, pip="pip")
    assert run_op(fake, pip.packages, packages={"b", "a"}) == ["pip install a b"]
