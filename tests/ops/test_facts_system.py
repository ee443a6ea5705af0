"""The system facts: each command run here through /bin/sh, and each parser on real output."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path

import pytest

from agent.catalogue.facts.server import (
    EtcHosts,
    KernelVersion,
    LinuxDistribution,
    LinuxName,
    LoadAverage,
    Locales,
    LsbRelease,
    OsRelease,
    OsVersion,
    SecurityLimits,
    Timezone,
    TmpDir,
    Uptime,
)
from agent.catalogue.facts.server import Path as PathFact
from agent.catalogue.facts.server._system import ZoneFile
from tests.ops.conftest import run_fact

ZONEINFO = Path("/usr/share/zoneinfo")
needs_zoneinfo = pytest.mark.skipif(not (ZONEINFO / "Etc/UTC").exists(), reason="no tzdata")


def test_path_and_tmpdir_follow_the_environment(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin"}
    assert run_fact(PathFact, env=env) == "/usr/bin:/bin"
    assert run_fact(TmpDir, env=env) == ""
    assert run_fact(TmpDir, env={**env, "TMP": str(tmp_path)}) == str(tmp_path)
    # Not a directory: the next variable counts.
    absent = str(tmp_path / "absent")
    assert run_fact(TmpDir, env={**env, "TMPDIR": absent, "TEMP": str(tmp_path)}) == str(tmp_path)


def test_os_version_is_the_kernel_release() -> None:
    assert run_fact(OsVersion) == run_fact(KernelVersion) == platform.release()


def test_uptime_and_load_average_here() -> None:
    uptime = run_fact(Uptime)
    assert isinstance(uptime, int) and uptime >= 0
    load = run_fact(LoadAverage)
    assert set(load) == {"1", "5", "15"} and all(isinstance(v, float) for v in load.values())


def test_uptime_and_load_average_of_bsd_output() -> None:
    assert Uptime().process(["1764680000", "1764670000"]) == 10000
    assert LoadAverage().process(
        ["10:01  up 3 days, 2 users, load averages: 1.20 0.98 0.50"]
    ) == {"1": 1.2, "5": 0.98, "15": 0.5}
    assert LoadAverage().process(["0.15 0.21 0.10 3/105 62"]) == {"1": 0.15, "5": 0.21,
                                                                   "15": 0.1}
    assert LoadAverage().process(["nonsense"]) == {}


@needs_zoneinfo
def test_timezone_and_zone_file_here() -> None:
    here = os.path.realpath("/etc/localtime").split("/zoneinfo/")[-1]
    assert run_fact(Timezone) == here
    assert run_fact(ZoneFile, timezone="Etc/UTC") == "Etc/UTC"
    if (ZONEINFO / "UTC").is_symlink():
        assert run_fact(ZoneFile, timezone="UTC") == "Etc/UTC"
    assert run_fact(ZoneFile, timezone="Mars/Olympus") is None
    assert run_fact(ZoneFile, timezone="Europe") is None  # a directory is not a zone


@pytest.mark.skipif(not shutil.which("locale"), reason="no locale command")
def test_locales_here_spell_utf8_as_locale_gen_does() -> None:
    listed = subprocess.run(["locale", "-a"], capture_output=True, text=True).stdout.split()
    found = run_fact(Locales)
    assert found == [name.replace("utf8", "UTF-8") for name in listed]
    assert Locales().process(["C", "C.utf8", "en_GB.utf8", "POSIX"]) == [
        "C", "C.UTF-8", "en_GB.UTF-8", "POSIX"
    ]


def test_locales_without_the_locale_command() -> None:
    assert run_fact(Locales, env={"PATH": "/nonexistent"}) == []


def test_security_limits_parse_entries_and_skip_the_rest() -> None:
    assert SecurityLimits().process([
        "# /etc/security/limits.conf",
        "#*               soft    core            0",
        "",
        "*\tsoft\tnofile\t1024",
        "@admins   hard  nproc  unlimited  # admins",
        "broken line",
    ]) == [
        {"domain": "*", "limit_type": "soft", "item": "nofile", "value": "1024"},
        {"domain": "@admins", "limit_type": "hard", "item": "nproc", "value": "unlimited"},
    ]


def test_security_limits_here() -> None:
    expected = []
    conf = Path("/etc/security/limits.conf")
    if conf.exists():
        expected = SecurityLimits().process(conf.read_text().splitlines())
    assert run_fact(SecurityLimits) == expected


def test_etc_hosts_here_and_of_a_missing_file(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n# x\n10.0.0.1 a b\n10.0.0.1 c a\n")
    assert run_fact(EtcHosts, path=str(hosts)) == {"127.0.0.1": ["localhost"],
                                                    "10.0.0.1": ["a", "b", "c"]}
    assert run_fact(EtcHosts, path=str(tmp_path / "none")) == {}
    assert any("localhost" in names for names in run_fact(EtcHosts).values())


@pytest.mark.skipif(not Path("/etc/os-release").exists(), reason="no /etc/os-release")
def test_os_release_and_linux_name_here() -> None:
    release = run_fact(OsRelease)
    assert release["id"] and "pretty_name" in release
    assert release["pretty_name"][0] not in "\"'"
    assert run_fact(LinuxName) == run_fact(LinuxDistribution)["name"]


def test_os_release_parser() -> None:
    assert OsRelease().process([
        'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"', "ID=debian", "VERSION_ID='12'", "# x=y",
    ]) == {"pretty_name": "Debian GNU/Linux 12 (bookworm)", "id": "debian", "version_id": "12"}
    assert LinuxName().process(["ID=ubuntu", 'VERSION_ID="22.04"']) == "Ubuntu"


def test_lsb_release_parser_and_missing_tool() -> None:
    assert LsbRelease().process([
        "No LSB modules are available.",
        "Distributor ID:\tDebian",
        "Description:\tDebian GNU/Linux 12 (bookworm)",
        "Release:\t12",
        "Codename:\tbookworm",
    ]) == {"id": "Debian", "description": "Debian GNU/Linux 12 (bookworm)", "release": "12",
           "codename": "bookworm"}
    assert run_fact(LsbRelease, env={"PATH": "/nonexistent"}) is None


@pytest.mark.skipif(not shutil.which("lsb_release"), reason="no lsb_release")
def test_lsb_release_here() -> None:
    assert run_fact(LsbRelease)["id"]


def test_facts_on_a_bed_host(bed_host) -> None:
    """The same commands on a fresh Debian bed host, over its own shell."""

    def fact(cls, **kwargs):
        command = cls().full_command(**kwargs)
        text = command if isinstance(command, str) else command.get_raw_value()
        lines = bed_host.run(["sh", "-c", text], check=True).stdout.splitlines()
        return cls().process(lines) if lines else cls().default()

    assert fact(Timezone) == "Etc/UTC"
    assert fact(ZoneFile, timezone="UTC") == "Etc/UTC"
    assert "C.UTF-8" in fact(Locales)
    assert fact(SecurityLimits) == []
    assert fact(EtcHosts)["127.0.0.1"] == ["localhost"]
    assert fact(LsbRelease)["codename"] == "bookworm"
    assert fact(OsRelease)["version_id"] == "12"
    assert fact(LinuxName) == "Debian"
    assert fact(Uptime) >= 0
