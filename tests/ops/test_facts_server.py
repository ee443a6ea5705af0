"""server facts, run for real through /bin/sh on this machine."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
from datetime import datetime

from agent.catalogue.facts.server import (
    Arch,
    Command,
    Date,
    Groups,
    Hostname,
    LinuxDistribution,
    Os,
    Users,
    Which,
    parse_os_release,
)
from tests.ops.conftest import run_fact


def test_uname_facts_match_python() -> None:
    uname = os.uname()
    assert run_fact(Os) == uname.sysname
    assert run_fact(Arch) == uname.machine
    assert run_fact(Hostname) == uname.nodename


def test_immutable_flags_and_names() -> None:
    assert Os.immutable and Arch.immutable and Hostname.immutable and LinuxDistribution.immutable
    assert not Command.immutable and not Which.immutable and not Date.immutable
    assert Os.name == "server.Os"
    assert LinuxDistribution.name == "server.LinuxDistribution"


def test_command_returns_raw_output() -> None:
    assert run_fact(Command, command="printf 'a b\\nc\\n'") == "a b\nc"


def test_which_finds_and_misses() -> None:
    assert run_fact(Which, command="sh") == shutil.which("sh")
    assert run_fact(Which, command="no-such-tool-pullinfra") is None


def test_date_is_timezone_aware() -> None:
    value = run_fact(Date)
    assert isinstance(value, datetime)
    assert value.tzinfo is not None


def test_linux_distribution_of_this_machine() -> None:
    with open("/etc/os-release") as handle:
        meta = parse_os_release(handle.read().splitlines())
    value = run_fact(LinuxDistribution)
    assert value["release_meta"]["ID"] == meta["ID"]
    assert value["major"] == int(meta["VERSION_ID"].split(".")[0])
    if meta["ID"] == "debian":
        assert value["name"] == "Debian"


def test_linux_distribution_parses_ubuntu_and_quotes() -> None:
    lines = [
        'NAME="Ubuntu"',
        'VERSION_ID="22.04"',
        "ID=ubuntu",
        "ID_LIKE=debian",
        "VERSION_CODENAME=jammy",
        'PRETTY_NAME="Ubuntu 22.04.4 LTS"',
        "# comment",
    ]
    value = LinuxDistribution().process(lines)
    assert value["name"] == "Ubuntu"
    assert (value["major"], value["minor"]) == (22, 4)
    assert value["release_meta"]["CODENAME"] == "jammy"
    assert value["release_meta"]["PRETTY_NAME"] == "Ubuntu 22.04.4 LTS"


def test_linux_distribution_unknown_id_uses_name_and_default() -> None:
    value = LinuxDistribution().process(['NAME="Rocky Linux"', "ID=rocky", 'VERSION_ID="9.3"'])
    assert value["name"] == "Rocky Linux"
    assert (value["major"], value["minor"]) == (9, 3)
    assert LinuxDistribution().default()["name"] is None


def test_users_and_groups() -> None:
    users = run_fact(Users)
    root = pwd.getpwuid(0)
    assert users[root.pw_name]["uid"] == 0
    assert users[root.pw_name]["home"] == root.pw_dir
    assert grp.getgrgid(0).gr_name in run_fact(Groups)
