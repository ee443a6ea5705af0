"""KernelModules, Mounts and Processes: parsers on real-looking output, and the facts run for
real through /bin/sh on this machine."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from agent.catalogue.facts.server import KernelModules, Mounts, Processes
from agent.engine.fact import FactError
from tests.ops.conftest import run_fact

PROC_MODULES = [
    "Linux",
    "br_netfilter 32768 0 - Live 0xffffffffc0a1d000",
    "bridge 311296 1 br_netfilter, Live 0xffffffffc09b2000",
    "overlay 151552 3 - Live 0xffffffffc0984000",
    "nf_conntrack 176128 2 xt_conntrack,nf_nat, Live 0x0000000000000000",
]

KLDSTAT = [
    "FreeBSD",
    " 1   33 0xffffffff80200000  1f3e2d0 kernel",
    " 2    1 0xffffffff82140000     3220 intpm.ko",
]

MOUNTINFO = [
    "Linux",
    "22 28 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw",
    "28 1 253:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro",
    "30 28 0:25 / /run rw,nosuid,nodev,noexec,relatime shared:5 master:1 - tmpfs tmpfs "
    "rw,size=401084k,mode=755,inode64",
    r"41 28 0:40 / /mnt/my\040disk ro,relatime - vfat /dev/sdb1 rw,fmask=0022,uid=1000",
    "42 28 0:41 / /boot/efi rw,relatime - vfat /dev/sda1 ro,codepage=437",
]

FREEBSD_MOUNT = [
    "FreeBSD",
    '{"__version": "1", "mount": {"fstab": [',
    '{"device": "/dev/ada0p2", "mntpoint": "/", "fstype": "ufs", "opts": "rw", '
    '"dump": 1, "pass": 1},',
    '{"device": "devfs", "mntpoint": "/dev", "fstype": "devfs", "opts": "rw, multilabel", '
    '"dump": 0, "pass": 0}',
    "]}}",
]

OPENBSD_MOUNT = [
    "OpenBSD",
    "/dev/sd0a (5f5e0a2e5c3c4f1b.a) on / type ffs (rw, local, ctime=Mon Jan  1 00:00:00 2024)",
    "/dev/sd0e on /home type ffs (rw, local, nodev, nosuid)",
]

PS_FULL = [
    "full",
    "    1 root     Ss    0.0  0.1 systemd         /sbin/init splash",
    "  812 www-data S     1.5  2.3 nginx           nginx: worker process",
    "  900 root     I<    0.0  0.0 kworker/0:1H    ",
    "garbage line",
]

PS_BUSYBOX = [
    "busybox",
    "PID   USER     VSZ  STAT COMMAND",
    "    1 root     1600 S    /sbin/init",
    "  412 nginx    9000 S    nginx: worker process",
]


def test_kernel_modules_from_proc_modules() -> None:
    assert KernelModules().process(PROC_MODULES) == {
        "br_netfilter": {"size": "32768", "instances": 0, "state": "Live"},
        "bridge": {"size": "311296", "instances": 1, "state": "Live",
                   "depends": ["br_netfilter"]},
        "overlay": {"size": "151552", "instances": 3, "state": "Live"},
        "nf_conntrack": {"size": "176128", "instances": 2, "state": "Live",
                         "depends": ["xt_conntrack", "nf_nat"]},
    }


def test_kernel_modules_from_kldstat_and_without_modules() -> None:
    assert KernelModules().process(KLDSTAT) == {
        "kernel": {"address": "0xffffffff80200000", "id": "1", "refs": "33",
                   "size": "1f3e2d0"},
        "intpm.ko": {"address": "0xffffffff82140000", "id": "2", "refs": "1", "size": "3220"},
    }
    assert KernelModules().process(["Linux"]) == {}


def test_kernel_modules_here_match_proc_modules() -> None:
    found = run_fact(KernelModules)
    proc_modules = Path("/proc/modules")
    if not proc_modules.exists():
        assert found == {}
    else:
        names = {line.split()[0] for line in proc_modules.read_text().splitlines()}
        assert set(found) == names


def test_mounts_from_mountinfo() -> None:
    mounts = Mounts().process(MOUNTINFO)
    assert mounts["/"] == {"device": "/dev/vda1", "type": "ext4",
                           "options": ["rw", "relatime", "errors=remount-ro"]}
    assert mounts["/run"] == {
        "device": "tmpfs", "type": "tmpfs",
        "options": ["rw", "nosuid", "nodev", "noexec", "relatime", "size=401084k",
                    "mode=755", "inode64"],
    }
    # The kernel escapes the space; the per-mount ro wins over the superblock's rw.
    assert mounts["/mnt/my disk"]["options"] == ["ro", "relatime", "fmask=0022", "uid=1000"]
    assert mounts["/boot/efi"]["options"] == ["rw", "relatime", "codepage=437"]
    assert mounts["/proc"]["device"] == "proc"


def test_mounts_from_the_bsds() -> None:
    assert Mounts().process(FREEBSD_MOUNT) == {
        "/": {"device": "/dev/ada0p2", "type": "ufs", "options": ["rw"]},
        "/dev": {"device": "devfs", "type": "devfs", "options": ["rw", "multilabel"]},
    }
    assert Mounts().process(OPENBSD_MOUNT) == {
        "/": {"device": "/dev/sd0a", "type": "ffs", "options": ["rw", "local"]},
        "/home": {"device": "/dev/sd0e", "type": "ffs",
                  "options": ["rw", "local", "nodev", "nosuid"]},
    }
    with pytest.raises(FactError):
        Mounts().process(["FreeBSD", "not json"])


def test_mounts_here_include_the_root() -> None:
    mounts = run_fact(Mounts)
    assert "/" in mounts and "/proc" in mounts
    assert mounts["/proc"]["type"] == "proc"
    assert all(isinstance(info["options"], list) for info in mounts.values())


def test_processes_from_procps_ps() -> None:
    assert Processes().process(PS_FULL) == {
        1: {"user": "root", "state": "Ss", "cpu_percent": 0.0, "mem_percent": 0.1,
            "command": "systemd", "args": "/sbin/init splash"},
        812: {"user": "www-data", "state": "S", "cpu_percent": 1.5, "mem_percent": 2.3,
              "command": "nginx", "args": "nginx: worker process"},
        900: {"user": "root", "state": "I<", "cpu_percent": 0.0, "mem_percent": 0.0,
              "command": "kworker/0:1H", "args": "kworker/0:1H"},
    }


def test_processes_from_busybox_ps() -> None:
    assert Processes().process(PS_BUSYBOX) == {
        1: {"user": "root", "state": "S", "cpu_percent": 0.0, "mem_percent": 0.0,
            "command": "init", "args": "/sbin/init"},
        412: {"user": "nginx", "state": "S", "cpu_percent": 0.0, "mem_percent": 0.0,
              "command": "nginx:", "args": "nginx: worker process"},
    }


def test_processes_here_list_a_started_process() -> None:
    sleeper = subprocess.Popen(["sleep", "300"])
    try:
        found = run_fact(Processes)
        assert found[sleeper.pid]["command"] == "sleep"
        assert found[sleeper.pid]["args"] == "sleep 300"
        assert os.getpid() in found
        assert set(run_fact(Processes, pid=sleeper.pid)) == {sleeper.pid}
    finally:
        sleeper.kill()
        sleeper.wait()
    assert run_fact(Processes, pid=sleeper.pid) == {}


def test_processes_pid_must_be_a_number() -> None:
    with pytest.raises(FactError, match="numeric pid"):
        Processes().command(pid="1; reboot")
