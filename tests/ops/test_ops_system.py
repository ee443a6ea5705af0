"""server.hostname, etc_hosts, timezone, locale and security_limit: facts in, commands out."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from agent.catalogue.facts.files import Directory, File, FileContents, FindInFile, Sha256File
from agent.catalogue.facts.server import EtcHosts, Hostname, Locales, Os, Timezone, Which
from agent.catalogue.facts.server._system import ZoneFile
from agent.catalogue.facts.systemd import SystemdRunning
from agent.catalogue.operations import server
from agent.compat import run_deploy
from agent.engine.operation_errors import OperationError, OperationValueError
from agent.vocab import OpStatus
from tests.ops.conftest import FakeHost, local_deploy, run_op

INFO = {"user": "root", "group": "root", "mode": 644, "size": 10}
SED_SUFFIX = re.compile(r"\.\d{10}\b")
FIND = {"interpolate_variables": False, "extended_regex": False}
LIMITS = "/etc/security/limits.conf"


def _sed_stable(commands: list) -> list:
    return [SED_SUFFIX.sub(".S", c) if isinstance(c, str) else c for c in commands]


def _remote_file(fake: FakeHost, path: str, text: str | None) -> None:
    """The facts files.put reads about its destination."""
    if text is None:
        fake.fact(File, None, path=path).fact(Directory, INFO, path=path.rsplit("/", 1)[0])
        return
    data = text.encode()
    fake.fact(File, INFO, path=path)
    fake.fact(Sha256File, hashlib.sha256(data).hexdigest(), path=path)
    fake.files[path] = data


def _no_systemd(fake: FakeHost, *tools: str) -> FakeHost:
    fake.fact(SystemdRunning, False)
    for tool in tools:
        fake.fact(Which, f"/usr/bin/{tool}", command=tool)
    return fake


def _failed_at_line(tmp_path: Path, call: str, words: str) -> None:
    """The operation fails before touching the machine, naming the deploy's file:line."""
    inventory, deploys = local_deploy(
        tmp_path, f"from pyinfra.operations import server\n\n{call}\n"
    )
    result = run_deploy(inventory, deploys)
    [op] = result.host("@local").operations
    assert op.status == OpStatus.FAILED
    assert f"{deploys[0]}:3" in (op.error or "")
    assert words in (op.error or ""), op.error


# -- server.hostname -------------------------------------------------------------------------

def test_hostname_without_systemd_sets_it_and_writes_the_file(fake: FakeHost) -> None:
    # hostnamectl is installed but systemd is not PID 1 (a container): the plain way.
    _no_systemd(fake, "hostnamectl").fact(Hostname, "old").fact(Os, "Linux")
    _remote_file(fake, "/etc/hostname", "old\n")
    assert run_op(fake, server.hostname, hostname="web1.example.com") == [
        "hostname web1.example.com",
        ("upload", b"web1.example.com\n", "/etc/hostname"),
    ]
    assert fake.diffs == [("/etc/hostname", "old\n", "web1.example.com\n")]


def test_hostname_already_set_is_no_change(fake: FakeHost) -> None:
    _no_systemd(fake).fact(Hostname, "web1").fact(Os, "Linux")
    _remote_file(fake, "/etc/hostname", "web1\n")
    assert run_op(fake, server.hostname, hostname="web1") == []
    assert fake.noops == ["hostname is set", "file /etc/hostname is already uploaded"]


def test_hostname_file_false_or_elsewhere(fake: FakeHost) -> None:
    _no_systemd(fake).fact(Hostname, "old").fact(Os, "OpenBSD")
    assert run_op(fake, server.hostname, hostname="b", hostname_file=False) == ["hostname b"]
    _remote_file(fake, "/etc/myname", None)
    assert run_op(fake, server.hostname, hostname="b") == [
        "hostname b", ("upload", b"b\n", "/etc/myname")
    ]


def test_hostname_under_systemd_uses_hostnamectl(fake: FakeHost) -> None:
    fake.fact(SystemdRunning, True).fact(Which, "/usr/bin/hostnamectl", command="hostnamectl")
    fake.fact(Hostname, "old")
    assert run_op(fake, server.hostname, hostname="new'x") == [
        "hostnamectl set-hostname 'new'\"'\"'x'"
    ]
    fake.fact(Hostname, "web1")
    assert run_op(fake, server.hostname, hostname="web1") == []
    assert fake.noops == ["hostname is set"]


def test_hostname_with_a_space_fails_at_the_deploy_line(tmp_path: Path) -> None:
    _failed_at_line(tmp_path, "server.hostname(name='bad', hostname='web 1')", "one word")


# -- server.etc_hosts ------------------------------------------------------------------------

HOSTS = "# static\n127.0.0.1\tlocalhost\n10.0.0.5 db old # the db\n::1 localhost\n"


def _hosts(fake: FakeHost, text: str | None, path: str = "/etc/hosts") -> FakeHost:
    fake.fact(EtcHosts, EtcHosts().process(text.splitlines()) if text else {}, path=path)
    fake.fact(FileContents, text, path=path)
    _remote_file(fake, path, text)
    return fake


def test_etc_hosts_fact_merges_an_address_on_several_lines() -> None:
    assert EtcHosts().process(["# c", "", "10.0.0.5 db db", "10.0.0.5 db2 db # x", "bad"]) == {
        "10.0.0.5": ["db", "db2"]
    }


def test_etc_hosts_adds_an_entry_keeping_the_rest(fake: FakeHost) -> None:
    _hosts(fake, HOSTS)
    [(kind, data, dest)] = run_op(fake, server.etc_hosts, ip="10.0.0.9", hostnames="app app.lan")
    assert (kind, dest) == ("upload", "/etc/hosts")
    assert data.decode() == HOSTS + "10.0.0.9 app app.lan\n"


def test_etc_hosts_rewrites_a_changed_entry(fake: FakeHost) -> None:
    _hosts(fake, HOSTS + "10.0.0.5 stale\n")
    [(_, data, _)] = run_op(fake, server.etc_hosts, ip="10.0.0.5", hostnames=["db", "db.lan"])
    # One line for the address: the second one goes.
    assert data.decode() == "# static\n127.0.0.1\tlocalhost\n10.0.0.5 db db.lan\n::1 localhost\n"


def test_etc_hosts_removes_names_or_the_whole_entry(fake: FakeHost) -> None:
    _hosts(fake, HOSTS)
    [(_, data, _)] = run_op(fake, server.etc_hosts, ip="10.0.0.5", hostnames="old",
                            present=False)
    assert "10.0.0.5 db\n" in data.decode()
    [(_, data, _)] = run_op(fake, server.etc_hosts, ip="10.0.0.5", present=False)
    assert data.decode() == "# static\n127.0.0.1\tlocalhost\n::1 localhost\n"


def test_etc_hosts_no_change_paths(fake: FakeHost) -> None:
    _hosts(fake, HOSTS, path="/srv/hosts")
    assert run_op(fake, server.etc_hosts, ip="10.0.0.5", hostnames=["db", "old"],
                  path="/srv/hosts") == []
    assert run_op(fake, server.etc_hosts, ip="10.9.9.9", present=False, path="/srv/hosts") == []
    assert run_op(fake, server.etc_hosts, ip="10.0.0.5", hostnames="web", present=False,
                  path="/srv/hosts") == []
    assert fake.noops == [
        "10.0.0.5 -> db old already present in /srv/hosts",
        "10.9.9.9 already absent from /srv/hosts",
        "10.0.0.5 in /srv/hosts does not reference any of: web",
    ]


def test_etc_hosts_creates_a_missing_file(fake: FakeHost) -> None:
    _hosts(fake, None, path="/srv/hosts")
    assert run_op(fake, server.etc_hosts, ip="10.0.0.1", hostnames="a", path="/srv/hosts") == [
        ("upload", b"10.0.0.1 a\n", "/srv/hosts")
    ]


def test_etc_hosts_needs_hostnames_when_present(fake: FakeHost, tmp_path: Path) -> None:
    with pytest.raises(OperationValueError, match="needs hostnames"):
        run_op(fake, server.etc_hosts, ip="10.0.0.1")
    with pytest.raises(OperationValueError, match="comment"):
        run_op(fake, server.etc_hosts, ip="10.0.0.1", hostnames=["a#b"])
    _failed_at_line(tmp_path, "server.etc_hosts(name='bad', ip='10.0.0.1')", "needs hostnames")


# -- server.timezone -------------------------------------------------------------------------

def test_timezone_without_systemd_links_localtime(fake: FakeHost) -> None:
    _no_systemd(fake, "timedatectl").fact(Timezone, "Etc/UTC")
    fake.fact(ZoneFile, "Europe/Amsterdam", timezone="Europe/Amsterdam")
    assert run_op(fake, server.timezone, timezone="Europe/Amsterdam") == [
        "ln -sf /usr/share/zoneinfo/Europe/Amsterdam /etc/localtime",
        "echo Europe/Amsterdam > /etc/timezone",
    ]


def test_timezone_under_systemd_uses_timedatectl(fake: FakeHost) -> None:
    fake.fact(SystemdRunning, True).fact(Which, "/usr/bin/timedatectl", command="timedatectl")
    fake.fact(Timezone, "Etc/UTC").fact(ZoneFile, "Asia/Tokyo", timezone="Asia/Tokyo")
    assert run_op(fake, server.timezone, timezone="Asia/Tokyo") == [
        "timedatectl set-timezone Asia/Tokyo"
    ]


def test_timezone_set_or_alias_of_the_set_zone_is_no_change(fake: FakeHost) -> None:
    fake.fact(Timezone, "Etc/UTC").fact(ZoneFile, "Etc/UTC", timezone="UTC")
    assert run_op(fake, server.timezone, timezone="Etc/UTC") == []
    assert run_op(fake, server.timezone, timezone="UTC") == []
    assert fake.noops == ["timezone is set"] * 2


def test_timezone_unknown_zone_fails(fake: FakeHost, tmp_path: Path) -> None:
    fake.fact(Timezone, "Etc/UTC").fact(ZoneFile, None, timezone="Mars/Olympus")
    with pytest.raises(OperationError, match="not in /usr/share/zoneinfo"):
        run_op(fake, server.timezone, timezone="Mars/Olympus")
    _failed_at_line(tmp_path, "server.timezone(name='bad', timezone='../../etc/passwd')",
                    "zone name")


# -- server.locale ---------------------------------------------------------------------------

GB_PATTERN = r"^#\?[[:space:]]*en_GB\.UTF-8[[:space:]]\+.*$"


def _locale(fake: FakeHost, installed: list[str], lines: list[str] | None) -> FakeHost:
    fake.fact(Locales, installed)
    fake.fact(FindInFile, lines, path="/etc/locale.gen", pattern=GB_PATTERN)
    return fake


def test_locale_present_uncomments_and_generates(fake: FakeHost) -> None:
    _locale(fake, ["C", "C.UTF-8", "POSIX"], ["# en_GB.UTF-8 UTF-8"])
    assert _sed_stable(run_op(fake, server.locale, locale="en_GB.UTF-8")) == [
        "sed -i.S 's/^# en_GB.UTF-8 UTF-8$/en_GB.UTF-8 UTF-8/' /etc/locale.gen"
        " && rm -f /etc/locale.gen.S",
        "locale-gen",
    ]


def test_locale_absent_comments_out_and_generates(fake: FakeHost) -> None:
    _locale(fake, ["C", "en_GB.UTF-8"], ["en_GB.UTF-8 UTF-8"])
    fake.fact(FindInFile, ["en_GB.UTF-8 UTF-8"], path="/etc/locale.gen",
              pattern="^en_GB.UTF-8 UTF-8$", **FIND)
    assert _sed_stable(run_op(fake, server.locale, locale="en_GB.UTF-8", present=False)) == [
        "sed -i.S 's/^en_GB.UTF-8 UTF-8$/# en_GB.UTF-8 UTF-8/' /etc/locale.gen"
        " && rm -f /etc/locale.gen.S",
        "locale-gen",
    ]
    # Commented out already, yet still built: regenerating is all that is left to do.
    _locale(fake, ["C", "en_GB.UTF-8"], ["# en_GB.UTF-8 UTF-8"])
    assert run_op(fake, server.locale, locale="en_GB.UTF-8", present=False) == ["locale-gen"]


def test_locale_in_wanted_state_is_no_change(fake: FakeHost) -> None:
    _locale(fake, ["C", "en_GB.UTF-8"], ["en_GB.UTF-8 UTF-8"])
    assert run_op(fake, server.locale, locale="en_GB.UTF-8") == []
    _locale(fake, ["C"], ["# en_GB.UTF-8 UTF-8"])
    assert run_op(fake, server.locale, locale="en_GB.UTF-8", present=False) == []
    assert fake.noops == ["locale en_GB.UTF-8 is present", "locale en_GB.UTF-8 is absent"]


def test_locale_codeset_spelling_is_normalised(fake: FakeHost) -> None:
    # locale -a lists en_US.ISO-8859-15 as en_US.iso885915: the same locale.
    fake.fact(Locales, ["C", "en_US.iso885915"])
    fake.fact(FindInFile, ["en_US.ISO-8859-15 ISO-8859-15"], path="/etc/locale.gen",
              pattern=r"^#\?[[:space:]]*en_US\.ISO-8859-15[[:space:]]\+.*$")
    assert run_op(fake, server.locale, locale="en_US.ISO-8859-15") == []


def test_locale_missing_or_ambiguous_line_fails(fake: FakeHost, tmp_path: Path) -> None:
    _locale(fake, ["C"], [])
    with pytest.raises(OperationError, match=r"Locale en_GB.UTF-8 not found in /etc/locale.gen"):
        run_op(fake, server.locale, locale="en_GB.UTF-8")
    _locale(fake, ["C"], ["# en_GB.UTF-8 UTF-8", "en_GB.UTF-8 UTF-8"])
    with pytest.raises(OperationError, match="Multiple locales matches"):
        run_op(fake, server.locale, locale="en_GB.UTF-8")
    _failed_at_line(tmp_path, "server.locale(name='bad', locale='')", "one word")


# -- server.security_limit -------------------------------------------------------------------

NOFILE = r"^\*[[:space:]][[:space:]]*soft[[:space:]][[:space:]]*nofile[[:space:]].*$"


def test_security_limit_appends_a_new_entry(fake: FakeHost) -> None:
    fake.fact(FindInFile, [], path=LIMITS, pattern=NOFILE, **FIND)
    fake.fact(FindInFile, [], path=LIMITS, pattern="^\\*\tsoft\tnofile\t1024$", **FIND)
    [command] = run_op(fake, server.security_limit, domain="*", limit_type="soft",
                       item="nofile", value=1024)
    assert "printf '%s\\n' '*\tsoft\tnofile\t1024'" in command and LIMITS in command


def test_security_limit_rewrites_the_entry_of_another_value(fake: FakeHost) -> None:
    # pyinfra's pattern would not find this line (its `+` is literal in grep's basic regex)
    # and would append a second nofile entry.
    fake.fact(FindInFile, ["*    soft    nofile    512"], path=LIMITS, pattern=NOFILE, **FIND)
    assert _sed_stable(run_op(fake, server.security_limit, domain="*", limit_type="soft",
                              item="nofile", value=1024)) == [
        f"sed -i.S 's/{NOFILE}/*\tsoft\tnofile\t1024/' {LIMITS} && rm -f {LIMITS}.S"
    ]


def test_security_limit_present_is_no_change(fake: FakeHost) -> None:
    fake.fact(FindInFile, ["*\tsoft\tnofile\t1024"], path=LIMITS, pattern=NOFILE, **FIND)
    assert run_op(fake, server.security_limit, domain="*", limit_type="soft", item="nofile",
                  value="1024") == []
    assert fake.noops == [f'line "*\tsoft\tnofile\t1024" exists in {LIMITS}']


def test_security_limit_bad_type_fails_at_the_deploy_line(tmp_path: Path) -> None:
    _failed_at_line(
        tmp_path,
        "server.security_limit(name='bad', domain='*', limit_type='hardest', item='nofile', "
        "value=1)",
        "limit_type 'soft', 'hard' or '-'",
    )
