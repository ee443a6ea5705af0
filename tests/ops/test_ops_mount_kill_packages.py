"""server.mount, server.kill and server.packages: facts in, commands out."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.catalogue.facts.deb import DebPackages
from agent.catalogue.facts.server import Kernel, Mounts, Which
from agent.catalogue.operations import server
from agent.compat import run_deploy
from agent.engine.operation_errors import OperationError
from agent.vocab import OpStatus
from tests.ops.conftest import FakeHost, local_deploy, run_op

APT = (
    "DEBIAN_FRONTEND=noninteractive apt-get -y "
    '-o Dpkg::Options::="--force-confdef" -o Dpkg::Options::="--force-confold"'
)
MOUNTS = {
    "/": {"device": "/dev/vda1", "type": "ext4", "options": ["rw", "relatime"]},
    "/run": {"device": "tmpfs", "type": "tmpfs",
             "options": ["rw", "nosuid", "nodev", "relatime", "size=65536k"]},
    "/srv/data": {"device": "/dev/vdb1", "type": "ext4",
                  "options": ["rw", "noatime", "errors=remount-ro"]},
}


def _failed_op(tmp_path: Path, line: str):
    inventory, deploys = local_deploy(
        tmp_path, f"from pyinfra.operations import server\n\n{line}\n")
    result = run_deploy(inventory, deploys)
    [op] = result.host("@local").operations
    assert op.status == OpStatus.FAILED
    assert f"{deploys[0]}:3" in (op.error or "")
    return op


# ---------------------------------------------------------------------------- server.mount

def test_mount_builds_the_command_from_what_is_given(fake: FakeHost) -> None:
    fake.fact(Mounts, MOUNTS)
    assert run_op(fake, server.mount, path="/mnt/scratch", device="scratch", fs_type="tmpfs",
                  options=["size=1m", "noexec"]) == [
        "mount -t tmpfs -o size=1m,noexec scratch /mnt/scratch"
    ]
    assert run_op(fake, server.mount, path="/mnt/my disk") == ["mount '/mnt/my disk'"]


def test_mount_unmounts_a_mounted_path(fake: FakeHost) -> None:
    fake.fact(Mounts, MOUNTS)
    assert run_op(fake, server.mount, path="/srv/data", mounted=False) == ["umount /srv/data"]


def test_mount_in_wanted_state_is_no_change(fake: FakeHost) -> None:
    fake.fact(Mounts, MOUNTS)
    assert run_op(fake, server.mount, path="/srv/data") == []
    assert run_op(fake, server.mount, path="/srv/data", options=["noatime", "rw"]) == []
    assert run_op(fake, server.mount, path="/mnt/none", mounted=False) == []
    assert fake.noops == [
        "filesystem /srv/data is mounted",
        "filesystem /srv/data is mounted",
        "filesystem /mnt/none is not mounted",
    ]


def test_mount_remounts_for_missing_options(fake: FakeHost) -> None:
    fake.fact(Mounts, MOUNTS).fact(Kernel, "Linux")
    assert run_op(fake, server.mount, path="/srv/data", options=["noatime", "ro"]) == [
        "mount -o remount,noatime,ro /srv/data"
    ]


def test_mount_remount_on_bsd_updates_in_place(fake: FakeHost) -> None:
    fake.fact(Mounts, {"/data": {"device": "/dev/ada1p1", "type": "ufs",
                                 "options": ["rw"]}}).fact(Kernel, "FreeBSD")
    assert run_op(fake, server.mount, path="/data", options=["noatime"]) == [
        "mount -uo noatime -t ufs /dev/ada1p1 /data"
    ]


def test_mount_finds_a_device_mounted_under_another_spelling(fake: FakeHost) -> None:
    fake.fact(Mounts, MOUNTS)
    assert run_op(fake, server.mount, path="data", device="/dev/vdb1") == []
    assert fake.noops == ["filesystem data is mounted"]
    assert run_op(fake, server.mount, path="data", device="/dev/vdb1", mounted=False) == [
        "umount /srv/data"
    ]


def test_mount_path_with_a_trailing_slash_is_the_same_mount(fake: FakeHost) -> None:
    fake.fact(Mounts, MOUNTS)
    assert run_op(fake, server.mount, path="/srv/data/") == []
    assert run_op(fake, server.mount, path="/srv//data/", mounted=False) == ["umount /srv/data"]


def test_mount_pseudo_filesystem_source_is_not_one_filesystem(fake: FakeHost) -> None:
    # /run is a tmpfs too; a new tmpfs elsewhere is still to be mounted (pyinfra takes any
    # mount with the source name `tmpfs` as this one and does nothing).
    fake.fact(Mounts, MOUNTS)
    assert run_op(fake, server.mount, path="/mnt/scratch", device="tmpfs",
                  fs_type="tmpfs") == ["mount -t tmpfs tmpfs /mnt/scratch"]


def test_mount_options_as_a_string_fail_at_the_deploy_line(tmp_path: Path) -> None:
    op = _failed_op(tmp_path, "server.mount(name='bad', path='/mnt/x', options='ro,noexec')")
    assert "list of words" in (op.error or "")


# ----------------------------------------------------------------------------- server.kill

def test_kill_sends_the_signal(fake: FakeHost) -> None:
    assert run_op(fake, server.kill, pid=1234) == ["kill -TERM 1234"]
    assert run_op(fake, server.kill, pid="1234", signal="KILL") == ["kill -KILL 1234"]
    assert run_op(fake, server.kill, pid=1234, signal=9) == ["kill -9 1234"]
    assert server.kill.definition.is_idempotent is False


@pytest.mark.parametrize("pid", [0, -1, "1234; reboot", True, None])
def test_kill_refuses_what_is_not_one_process(fake: FakeHost, pid: object) -> None:
    with pytest.raises(OperationError, match="process id"):
        run_op(fake, server.kill, pid=pid)


def test_kill_bad_pid_fails_at_the_deploy_line(tmp_path: Path) -> None:
    op = _failed_op(tmp_path, "server.kill(name='bad', pid='nginx')")
    assert "pid=1234" in (op.error or "")


@pytest.mark.parametrize("signal", ["TERM; reboot", "-9", "", True])
def test_kill_bad_signal_fails(fake: FakeHost, signal: object) -> None:
    with pytest.raises(OperationError, match="signal name or number"):
        run_op(fake, server.kill, pid=1234, signal=signal)


def test_kill_takes_signal_names_kill_knows(fake: FakeHost) -> None:
    assert run_op(fake, server.kill, pid=7, signal="SIGHUP") == ["kill -SIGHUP 7"]
    assert run_op(fake, server.kill, pid=7, signal="RTMIN+1") == ["kill -RTMIN+1 7"]


# ------------------------------------------------------------------------- server.packages

def _managers(fake: FakeHost, **found: str) -> FakeHost:
    for tool in ("zypper", "apk", "apt", "brew", "dnf", "pacman", "xbps-install", "xbps",
                 "yum", "pkg", "pkg_add"):
        fake.fact(Which, found.get(tool.replace("-", "_")), command=tool)
    return fake


def test_packages_on_debian_go_through_apt(fake: FakeHost) -> None:
    _managers(fake, apt="/usr/bin/apt").fact(DebPackages, {"htop": {"3.2.2-2"}})
    assert run_op(fake, server.packages, packages=["htop", "iftop"]) == [
        f"{APT} install iftop"
    ]
    assert run_op(fake, server.packages, packages="htop", present=False) == [
        f"{APT} remove htop"
    ]
    assert run_op(fake, server.packages, packages="iftop", present=False) == []
    assert fake.noops == ["package htop is installed (3.2.2-2)", "package iftop is not installed"]
    asked = [kwargs["command"] for name, kwargs in fake.fact_reads if name == "server.Which"]
    assert asked[:3] == ["zypper", "apk", "apt"]


def test_packages_prefers_zypper_and_says_it_is_not_driven_yet(fake: FakeHost) -> None:
    _managers(fake, zypper="/usr/bin/zypper", apt="/usr/bin/apt")
    with pytest.raises(OperationError, match="found zypper"):
        run_op(fake, server.packages, packages="htop")


def test_packages_without_a_package_manager_fails(fake: FakeHost) -> None:
    _managers(fake)
    with pytest.raises(OperationError, match=r"^No system package manager found \(no apk, apt"):
        run_op(fake, server.packages, packages="htop")
