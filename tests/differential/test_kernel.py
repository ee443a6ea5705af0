"""Differential cases for the kernel family: server.modprobe, server.mount, server.kill (with
the Processes fact) and server.packages.

Bed hosts share this machine's kernel, so the modprobe case never changes a module: it asks
for a module that no kernel has to stay unloaded and, when this machine has modules loaded,
for one of those to stay loaded (both no-change paths). Loading and unloading are unit-tested
only (tests/ops/test_ops_kernel.py). Mounts and processes are each host's own (its mount and
PID namespaces), so those cases really change things.
"""

from __future__ import annotations

import pytest

from agent.compat import run_deploy
from agent.vocab import OpStatus
from tests.differential import state, state_kernel
from tests.differential.harness import Case
from tests.testbed import Host

NO_SUCH_MODULE = "pullinfra_no_such_module"
LOADED_HERE = state_kernel.loaded_modules_here()
MOUNT_POINTS = ["/mnt/scratch", "/mnt/ro", "/mnt/old"]


def _modprobe_deploy() -> str:
    lines = [
        "from pyinfra.operations import server",
        f'server.modprobe(name="absent", module="{NO_SUCH_MODULE}", present=False)',
        f'server.modprobe(name="absent too", module=["{NO_SUCH_MODULE}", "{NO_SUCH_MODULE}2"],'
        " present=False)",
    ]
    if LOADED_HERE:
        lines.append(f'server.modprobe(name="loaded", module="{LOADED_HERE[0]}")')
    return "\n".join(lines) + "\n"


def _mount_points(host: Host) -> None:
    host.run("mkdir -p /mnt/scratch /mnt/ro /mnt/old /mnt/tmp2"
             " && mount -t tmpfs pullinfra-ro /mnt/ro"
             " && mount -t tmpfs pullinfra-old /mnt/old", check=True)


def _sleepers(host: Host) -> None:
    # Detached, output to /dev/null: Host.run returns at once; the host's init reaps them.
    host.run("for n in 1000 2000; do setsid sleep $n </dev/null >/dev/null 2>&1 & done",
             check=True)


def _svc_installed(host: Host) -> None:
    host.run("DEBIAN_FRONTEND=noninteractive apt-get install -y -q pullinfra-svc", check=True)


CASES = [
    Case(
        name="server.modprobe leaves modules as they are",
        deploy=_modprobe_deploy(),
        state=lambda h: state_kernel.kernel_modules(h),
    ),
    Case(
        name="server.mount mounts, remounts with an option and unmounts",
        deploy='''
from pyinfra.operations import server
server.mount(name="scratch", path="/mnt/scratch", device="pullinfra-scratch", fs_type="tmpfs",
             options=["nosuid", "noexec"])
server.mount(name="read-only", path="/mnt/ro", options=["ro"])
server.mount(name="old", path="/mnt/old", mounted=False)
server.mount(name="never mounted", path="/mnt/never", mounted=False)
''',
        setup=_mount_points,
        state=lambda h: state_kernel.mounts(h, MOUNT_POINTS),
    ),
    Case(
        name="server.kill processes found with the Processes fact",
        deploy='''
from pyinfra import host
from pyinfra.facts.server import Processes
from pyinfra.operations import server
for pid, process in sorted(host.get_fact(Processes).items()):
    if process["args"] == "sleep 1000":
        server.kill(name="stop the sleeper", pid=pid)
    elif process["args"] == "sleep 2000" and process["command"] == "sleep":
        server.kill(name="kill the other sleeper", pid=pid, signal="KILL")
''',
        setup=_sleepers,
        state=lambda h: state_kernel.processes(h, ["sleep 1000", "sleep 2000"]),
    ),
    Case(
        name="server.packages installs and removes through apt",
        deploy='''
from pyinfra.operations import server
server.packages(name="dummy", packages=["pullinfra-dummy"])
server.packages(name="no svc", packages="pullinfra-svc", present=False)
''',
        setup=_svc_installed,
        state=lambda h: state.packages(h, ["pullinfra-dummy", "pullinfra-svc"]),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_kernel_family_matches_pyinfra(differential, case):
    differential.check(case)


def _tmp2_mount_point(host: Host) -> None:
    host.run(["mkdir", "-p", "/mnt/tmp2"], check=True)


def test_tmpfs_named_tmpfs_is_mounted_where_pyinfra_skips_it(differential):
    """pyinfra looks for a mount with the same device when the path is not mounted, and a
    tmpfs's source `tmpfs` is what /dev and /run show too: it reports the new mount as
    already there and never mounts it. A source that is not a path names no one filesystem,
    so pullinfra mounts it (tests/ops/test_ops_mount_kill_packages.py)."""
    case = Case(
        name="server.mount tmpfs named tmpfs",
        deploy='''
from pyinfra.operations import server
server.mount(name="tmp2", path="/mnt/tmp2", device="tmpfs", fs_type="tmpfs")
''',
        setup=_tmp2_mount_point,
        state=lambda h: state_kernel.mounts(h, ["/mnt/tmp2"]),
    )
    comparison = differential.run(case)
    ours, theirs = comparison.pullinfra, comparison.pyinfra
    assert [op.changed for run in theirs.runs for op in run["h1"]] == [False, False]
    assert theirs.state["h1"]["/mnt/tmp2"] is None
    assert [op.changed for run in ours.runs for op in run["h1"]] == [True, False]
    assert ours.state["h1"]["/mnt/tmp2"]["device"] == "tmpfs"
    assert not ours.failures and not theirs.failures


def _no_apt(host: Host) -> None:
    host.run(["rm", "-f", "/usr/bin/apt"], check=True)


def test_packages_without_a_package_manager_fail_the_operation(bed_hosts, bed_inventory,
                                                               tmp_path):
    """pullinfra only: real pyinfra raises this error while preparing and stops the whole run
    before any host is touched (an engine difference, not this operation's), so the harness
    cannot compare it. Here the operation fails on the host with pyinfra's message."""
    [host] = bed_hosts(1)
    _no_apt(host)
    deploy = tmp_path / "deploy.py"
    deploy.write_text("from pyinfra.operations import server\n"
                      "server.packages(name='dummy', packages=['pullinfra-dummy'])\n")
    result = run_deploy(bed_inventory({"h1": host}), [str(deploy)])
    [op] = result.host("h1").operations
    assert op.status == OpStatus.FAILED
    assert "No system package manager found" in (op.error or "")
    assert f"{deploy}:2" in (op.error or "")
    assert host.package_version("pullinfra-dummy") is None
