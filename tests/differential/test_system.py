"""Differential cases for the system settings: server.hostname, etc_hosts, timezone, locale
and security_limit, against real pyinfra 3.10 on fresh bed hosts.

Bed hosts ship systemd's hostnamectl and timedatectl (the machine's package set) but do not
boot systemd, so both tools fail there. pyinfra picks them by their presence alone and fails;
pullinfra uses them only when systemd is PID 1 and falls back to `hostname` + /etc/hostname
and the /etc/localtime link. The matching cases remove the two tools first, so both tools
take the fallback; the last cases show where pyinfra is wrong and assert the right result.
"""

from __future__ import annotations

import pytest

from tests.differential import state_system
from tests.differential.harness import Case, Comparison
from tests.testbed import Host

HOSTS = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "# cluster\n"
    "10.0.0.7 app old\n"
    "10.0.0.9 gone # retired\n"
)
LIMITS = "/etc/security/limits.conf"


def _without_systemd_tools(host: Host) -> None:
    host.run("rm -f /usr/bin/hostnamectl /usr/bin/timedatectl", check=True)
    # The bed writes each host's own address into /etc/hosts: make both sides' files equal.
    host.write_file("/etc/hosts", HOSTS)


def _german_locale_built(host: Host) -> None:
    host.run("sed -i 's/^# de_DE.UTF-8 UTF-8$/de_DE.UTF-8 UTF-8/' /etc/locale.gen && "
             "locale-gen >/dev/null", check=True)


def _paris_and_an_old_limit(host: Host) -> None:
    _without_systemd_tools(host)
    host.run("ln -sf /usr/share/zoneinfo/Europe/Paris /etc/localtime && "
             "echo Europe/Paris > /etc/timezone", check=True)
    host.run(f"printf '*\\tsoft\\tnofile\\t512\\n' >> {LIMITS}", check=True)


def _settings(host: Host) -> dict:
    return {**state_system.hostname(host), **state_system.timezone(host),
            **state_system.texts(host, ["/etc/hosts", LIMITS])}


CASES = [
    Case(
        name="hostname, hosts entries, timezone and limits without systemd",
        deploy='''
from pyinfra.operations import server
server.hostname(name="hostname", hostname="web1.example.com")
server.etc_hosts(name="db entry", ip="10.0.0.5", hostnames=["db.internal", "db"])
server.etc_hosts(name="own entry", ip="127.0.1.1", hostnames="web1.example.com web1")
server.etc_hosts(name="drop a name", ip="10.0.0.7", hostnames="old", present=False)
server.etc_hosts(name="drop an entry", ip="10.0.0.9", present=False)
server.etc_hosts(name="absent already", ip="10.0.0.99", present=False)
server.timezone(name="timezone", timezone="Europe/Amsterdam")
server.security_limit(name="nofile", domain="*", limit_type="soft", item="nofile",
                      value=1024)
server.security_limit(name="nproc", domain="@admins", limit_type="-", item="nproc",
                      value="unlimited")
''',
        setup=_without_systemd_tools,
        state=_settings,
    ),
    Case(
        name="locale enabled and another disabled",
        deploy='''
from pyinfra.operations import server
server.locale(name="en_GB", locale="en_GB.UTF-8")
server.locale(name="no de_DE", locale="de_DE.UTF-8", present=False)
''',
        setup=_german_locale_built,
        state=state_system.locales,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_system_matches_pyinfra(differential, case: Case) -> None:
    differential.check(case)


def _flags(observed, run: int) -> list[tuple[str, bool, bool | None]]:
    return [(op.name, op.changed, op.success) for op in observed.runs[run]["h1"]]


def test_hostname_and_timezone_where_systemd_tools_exist_but_systemd_is_not_running(
    differential,
) -> None:
    comparison: Comparison = differential.run(Case(
        name="systemd's tools without systemd",
        deploy='''
from pyinfra.operations import server
server.hostname(name="hostname", hostname="web2")
server.timezone(name="timezone", timezone="Asia/Tokyo")
''',
        state=lambda h: {**state_system.hostname(h), **state_system.timezone(h)},
    ))
    # pyinfra runs `hostnamectl set-hostname` because the tool is installed, and it fails
    # ("System has not been booted with systemd"); the host stops there.
    assert _flags(comparison.pyinfra, 0)[0] == ("hostname", False, False)
    # pullinfra asks whether systemd runs, and takes the plain way.
    assert _flags(comparison.pullinfra, 0) == [("hostname", True, True),
                                               ("timezone", True, True)]
    assert _flags(comparison.pullinfra, 1) == [("hostname", False, True),
                                               ("timezone", False, True)]
    assert comparison.pullinfra.state["h1"] == {
        "hostname": "web2", "/etc/hostname": "web2\n",
        "/etc/localtime": "/usr/share/zoneinfo/Asia/Tokyo", "/etc/timezone": "Asia/Tokyo\n",
    }


def test_alias_timezone_and_a_changed_limit_converge(differential) -> None:
    comparison: Comparison = differential.run(Case(
        name="alias zone and changed limit",
        deploy='''
from pyinfra.operations import server
server.timezone(name="utc", timezone="UTC")
server.security_limit(name="nofile", domain="*", limit_type="soft", item="nofile",
                      value=1024)
''',
        setup=_paris_and_an_old_limit,
        state=lambda h: {**state_system.timezone(h), **state_system.texts(h, [LIMITS])},
    ))
    assert not comparison.pyinfra.failures and not comparison.pullinfra.failures
    # UTC is a link to Etc/UTC, which is what pyinfra's Timezone fact reads back, so pyinfra
    # sets it again on every run; pullinfra sees the alias is set.
    assert _flags(comparison.pyinfra, 1)[0] == ("utc", True, True)
    assert _flags(comparison.pullinfra, 0) == [("utc", True, True), ("nofile", True, True)]
    assert _flags(comparison.pullinfra, 1) == [("utc", False, True), ("nofile", False, True)]
    ours, theirs = comparison.pullinfra.state["h1"], comparison.pyinfra.state["h1"]
    assert ours["/etc/localtime"] == theirs["/etc/localtime"] == "/usr/share/zoneinfo/UTC"
    assert ours["/etc/timezone"] == theirs["/etc/timezone"] == "UTC\n"
    # pyinfra's pattern for the entry has a `+` that grep's basic regex takes literally, so
    # it misses the old entry and appends a second one; pam_limits then sees both.
    assert theirs[LIMITS].endswith("*\tsoft\tnofile\t512\n*\tsoft\tnofile\t1024\n")
    assert ours[LIMITS].endswith("# End of file\n*\tsoft\tnofile\t1024\n")
