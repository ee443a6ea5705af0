"""Differential cases for the core operations pullinfra already has (files, server, apt)."""

from __future__ import annotations

import pytest

from tests.differential import state
from tests.differential.harness import Case
from tests.testbed import Host


def _conf_file(host: Host) -> None:
    host.write_file("/etc/app.conf", "# app\nport=80\nname=web\nlegacy=1\n")


def _group_to_remove(host: Host) -> None:
    host.run(["groupadd", "oldgroup"], check=True)


def _svc_installed(host: Host) -> None:
    host.run("DEBIAN_FRONTEND=noninteractive apt-get install -y -q pullinfra-svc", check=True)


def _stale_link(host: Host) -> None:
    host.run(["ln", "-s", "/etc/passwd", "/srv/current"], check=True)


CASES = [
    Case(
        name="files.file and files.directory with mode and owner",
        deploy='''
from pyinfra.operations import files
files.directory(name="app dir", path="/srv/app", mode="750", user="deploy", group="deploy")
files.file(name="app log", path="/srv/app/app.log", mode="640", user="deploy")
files.file(path="/srv/app/gone", present=False)
files.file(path="/srv/app/touched", touch=True)
''',
        state=lambda h: state.files(h, ["/srv/app", "/srv/app/app.log", "/srv/app/gone",
                                        "/srv/app/touched"]),
    ),
    Case(
        name="files.link new and re-pointed",
        deploy='''
from pyinfra.operations import files
files.link(name="hostname link", path="/srv/hostname", target="/etc/hostname")
files.link(name="current", path="/srv/current", target="/etc/group")
''',
        setup=_stale_link,
        state=lambda h: state.files(h, ["/srv/hostname", "/srv/current"]),
    ),
    Case(
        name="files.line replace, append and remove",
        deploy='''
from pyinfra.operations import files
files.line(name="port", path="/etc/app.conf", line="^port=.*$", replace="port=8080")
files.line(name="debug", path="/etc/app.conf", line="debug=true")
files.line(name="no legacy", path="/etc/app.conf", line="^legacy=.*$", present=False)
''',
        setup=_conf_file,
        state=lambda h: state.files(h, ["/etc/app.conf"]),
    ),
    Case(
        name="files.put and files.template from the deploy's directory",
        deploy='''
from pyinfra import host
from pyinfra.operations import files
files.put(name="motd", src="files/motd", dest="/etc/motd", mode="600")
files.template(name="app conf", src="templates/app.conf.j2", dest="/etc/app/app.conf",
               create_remote_dir=True, port=host.data.port)
''',
        files={"files/motd": "managed by a deploy\n",
               "templates/app.conf.j2": "port={{ port }}\nhost={{ host.name }}\n"},
        data={"port": 8080},
        hosts=2,
        state=lambda h: state.files(h, ["/etc/motd", "/etc/app", "/etc/app/app.conf"]),
    ),
    Case(
        name="server.shell changes on every run",
        deploy='''
from pyinfra.operations import server
server.shell(name="stamp", commands=["echo one >> /root/stamp", "echo two >> /root/stamp"])
''',
        state=lambda h: state.files(h, ["/root/stamp"]),
    ),
    Case(
        name="server.group create, system and remove",
        deploy='''
from pyinfra.operations import server
server.group(name="ops", group="ops")
server.group(name="daemon group", group="svcgroup", system=True)
server.group(name="fixed gid", group="fixed", gid=4242)
server.group(name="old", group="oldgroup", present=False)
''',
        setup=_group_to_remove,
        state=lambda h: state.groups(h, ["ops", "svcgroup", "fixed", "oldgroup"]),
    ),
    Case(
        name="apt.packages install a pinned version and remove",
        deploy='''
from pyinfra.operations import apt
apt.packages(name="dummy 1.0", packages=["pullinfra-dummy=1.0"])
apt.packages(name="extra", packages=["pullinfra-dummy-extra"])
apt.packages(name="no svc", packages=["pullinfra-svc"], present=False)
''',
        setup=_svc_installed,
        state=lambda h: state.packages(h, ["pullinfra-dummy", "pullinfra-dummy-extra",
                                           "pullinfra-svc"]),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_core_matches_pyinfra(differential, case):
    differential.check(case)
