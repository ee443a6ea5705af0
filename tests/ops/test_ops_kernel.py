"""server.sysctl and server.modprobe: facts in, commands out."""

from __future__ import annotations

import re
from pathlib import Path

from agent.catalogue.facts.files import FindInFile
from agent.catalogue.facts.server import KernelModules, Sysctl
from agent.catalogue.operations import server
from agent.compat import run_deploy
from agent.vocab import OpStatus
from tests.ops.conftest import FakeHost, local_deploy, run_op

SED_SUFFIX = re.compile(r"\.\d{10}\b")
PERSIST_LINE = "net.ipv4.ip_forward[[:space:]]*=[[:space:]]*1"


def test_fact_parses_numbers_lists_and_text() -> None:
    parsed = Sysctl().process([
        "net.ipv4.ip_forward = 1",
        "fs.inode-state = 44565 360 0",
        "kernel.core_pattern = |/usr/lib/systemd/systemd-coredump %P",
        "kernel.hostname = bed1",
        "garbage",
    ])
    assert parsed == {
        "net.ipv4.ip_forward": 1,
        "fs.inode-state": [44565, 360, 0],
        "kernel.core_pattern": "|/usr/lib/systemd/systemd-coredump %P",
        "kernel.hostname": "bed1",
    }
    assert Sysctl().command(keys=["net.ipv4.ip_forward"]) == (
        "sysctl net.ipv4.ip_forward 2>/dev/null || true"
    )


def test_sets_a_different_value(fake: FakeHost) -> None:
    fake.fact(Sysctl, {"net.ipv4.ip_forward": 0}, keys=["net.ipv4.ip_forward"])
    assert run_op(fake, server.sysctl, key="net.ipv4.ip_forward", value=1) == [
        "sysctl net.ipv4.ip_forward=1"
    ]


def test_same_value_is_no_change(fake: FakeHost) -> None:
    fake.fact(Sysctl, {"net.ipv4.ip_local_port_range": [32768, 60999]},
              keys=["net.ipv4.ip_local_port_range"])
    for value in ("32768 60999", [32768, "60999"]):
        assert run_op(fake, server.sysctl, key="net.ipv4.ip_local_port_range", value=value) == []
    assert fake.noops == ["sysctl net.ipv4.ip_local_port_range is set to 32768 60999"] * 2


def test_list_value_is_quoted_as_one_word(fake: FakeHost) -> None:
    fake.fact(Sysctl, {}, keys=["net.ipv4.ip_local_port_range"])
    assert run_op(fake, server.sysctl, key="net.ipv4.ip_local_port_range",
                  value=[1024, 65000]) == ["sysctl net.ipv4.ip_local_port_range='1024 65000'"]


def test_persist_appends_or_rewrites_the_line(fake: FakeHost) -> None:
    fake.fact(Sysctl, {"net.ipv4.ip_forward": 1}, keys=["net.ipv4.ip_forward"])
    find = {"path": "/etc/sysctl.d/90-fwd.conf", "interpolate_variables": False,
            "extended_regex": False}
    fake.fact(FindInFile, [], pattern=f"^.*{PERSIST_LINE}.*$", **find)
    fake.fact(FindInFile, [], pattern=r"^net\.ipv4\.ip_forward = 1$", **find)
    commands = run_op(fake, server.sysctl, key="net.ipv4.ip_forward", value=1, persist=True,
                      persist_file="/etc/sysctl.d/90-fwd.conf")
    assert len(commands) == 1 and "net.ipv4.ip_forward = 1" in commands[0]
    assert "/etc/sysctl.d/90-fwd.conf" in commands[0]

    fake.fact(FindInFile, ["net.ipv4.ip_forward=1"], pattern=f"^.*{PERSIST_LINE}.*$", **find)
    commands = run_op(fake, server.sysctl, key="net.ipv4.ip_forward", value=1, persist=True,
                      persist_file="/etc/sysctl.d/90-fwd.conf")
    assert [SED_SUFFIX.sub(".S", c) for c in commands] == [
        f"sed -i.S 's/^.*{PERSIST_LINE}.*$/net.ipv4.ip_forward = 1/' "
        "/etc/sysctl.d/90-fwd.conf && rm -f /etc/sysctl.d/90-fwd.conf.S"
    ]

    fake.fact(FindInFile, ["net.ipv4.ip_forward = 1"], pattern=f"^.*{PERSIST_LINE}.*$", **find)
    assert run_op(fake, server.sysctl, key="net.ipv4.ip_forward", value=1, persist=True,
                  persist_file="/etc/sysctl.d/90-fwd.conf") == []


def test_bad_key_fails_at_the_deploy_line(tmp_path: Path) -> None:
    inventory, deploys = local_deploy(tmp_path, "from pyinfra.operations import server\n\n"
        "server.sysctl(name='bad', key='net.ipv4.ip_forward = 1', value=1)\n")
    deploy = deploys[0]
    result = run_deploy(inventory, deploys)
    [op] = result.host("@local").operations
    assert op.status == OpStatus.FAILED
    assert f"{deploy}:3" in (op.error or "")
    assert "sysctl key" in (op.error or "")


# --------------------------------------------------------------------------- server.modprobe

LOADED = {
    "br_netfilter": {"size": "32768", "instances": 0, "state": "Live", "depends": ["bridge"]},
    "overlay": {"size": "151552", "instances": 0, "state": "Live"},
}


def test_modprobe_loads_only_missing_modules(fake: FakeHost) -> None:
    fake.fact(KernelModules, LOADED)
    assert run_op(fake, server.modprobe, module=["overlay", "nf_conntrack", "wireguard"]) == [
        "modprobe -a nf_conntrack wireguard"
    ]
    assert run_op(fake, server.modprobe, module="vxlan", force=True) == ["modprobe -f -a vxlan"]


def test_modprobe_unloads_only_loaded_modules(fake: FakeHost) -> None:
    fake.fact(KernelModules, LOADED)
    assert run_op(fake, server.modprobe, module=["overlay", "floppy"], present=False) == [
        "modprobe -r -a overlay"
    ]
    assert run_op(fake, server.modprobe, module="br_netfilter", present=False, force=True) == [
        "modprobe -f -r -a br_netfilter"
    ]


def test_modprobe_in_wanted_state_is_no_change(fake: FakeHost) -> None:
    fake.fact(KernelModules, LOADED)
    assert run_op(fake, server.modprobe, module="overlay") == []
    assert run_op(fake, server.modprobe, module=["overlay", "br_netfilter"]) == []
    assert run_op(fake, server.modprobe, module="floppy", present=False) == []
    assert run_op(fake, server.modprobe, module=["floppy", "pcspkr"], present=False) == []
    assert fake.noops == [
        "module overlay is loaded",
        "modules overlay/br_netfilter are loaded",
        "module floppy is not loaded",
        "modules floppy/pcspkr are not loaded",
    ]


def test_modprobe_dash_and_underscore_name_one_module(fake: FakeHost) -> None:
    # /proc/modules lists br_netfilter; modprobe treats br-netfilter as the same module.
    fake.fact(KernelModules, LOADED)
    assert run_op(fake, server.modprobe, module="br-netfilter") == []
    assert run_op(fake, server.modprobe, module="br-netfilter", present=False) == [
        "modprobe -r -a br-netfilter"
    ]


def test_modprobe_on_a_kernel_without_modules_loads(fake: FakeHost) -> None:
    fake.fact(KernelModules, {})
    assert run_op(fake, server.modprobe, module="dummy") == ["modprobe -a dummy"]


def test_modprobe_bad_module_fails_at_the_deploy_line(tmp_path: Path) -> None:
    inventory, deploys = local_deploy(tmp_path, "from pyinfra.operations import server\n\n"
        "server.modprobe(name='bad', module=[])\n")
    result = run_deploy(inventory, deploys)
    [op] = result.host("@local").operations
    assert op.status == OpStatus.FAILED
    assert f"{deploys[0]}:3" in (op.error or "")
    assert "module name" in (op.error or "")
