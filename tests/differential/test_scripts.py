"""Differential cases for server.script, server.script_template, server.wait, the
RebootRequired fact and (on systemd hosts) server.reboot."""

from __future__ import annotations

import pytest

from tests.differential import state
from tests.differential.harness import Case
from tests.testbed import Host

HELLO = """#!/bin/sh
mkdir -p /srv/out
echo "hello $1 $2" >> /srv/out/hello
"""

GREET = """#!/bin/sh
echo "{{ greeting }} from {{ host.name }} on {{ port }}: $1" >> /srv/out/greet
"""

# Something that starts listening on 8099 two seconds after the script ran (unless something
# listens there already, as on the second run): server.wait has to wait for it.
LISTEN_LATER = """#!/bin/sh
ss -ltn | grep -q ':8099 ' && exit 0
nohup python3 -c '
import socket, time
time.sleep(2)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8099))
s.listen()
time.sleep(900)
' </dev/null >/dev/null 2>&1 &
"""

def _reboot_wanted(host: Host) -> None:
    host.write_file("/run/reboot-required.pkgs", "linux-image-amd64\n")


CASES = [
    Case(
        name="RebootRequired with and without Debian's marker",
        deploy='''
from io import StringIO
from pyinfra import host
from pyinfra.facts.server import RebootRequired
from pyinfra.operations import files, server
files.put(name="before", src=StringIO(f"{host.get_fact(RebootRequired)}\\n"),
          dest="/root/reboot-required-before")
server.shell(name="updated", commands=["rm -f /run/reboot-required.pkgs"])
''',
        setup=_reboot_wanted,
        state=lambda h: {"before": h.read_text("/root/reboot-required-before"),
                         "marker": h.exists("/run/reboot-required.pkgs")},
    ),
    Case(
        name="server.script and server.script_template with args, run on every run",
        deploy='''
from pyinfra import host
from pyinfra.operations import server
server.script(name="hello script", src="files/hello.sh", args=("one", "two"))
server.script_template(name="greeting script", src="templates/greet.sh.j2", args=["now"],
                       greeting="hi", port=host.data.port)
''',
        files={"files/hello.sh": HELLO, "templates/greet.sh.j2": GREET},
        data={"port": 8080},
        state=lambda h: {
            **state.files(h, ["/srv/out/hello", "/srv/out/greet"]),
            "hello": h.read_text("/srv/out/hello"),
            "greet": h.read_text("/srv/out/greet"),
        },
    ),
    Case(
        name="server.wait for sshd's open port and for a port that opens later",
        deploy='''
from pyinfra.operations import server
server.wait(name="sshd's port", port=22)
server.script(name="listen later", src="files/listen_later.sh")
server.wait(name="the later port", port=8099)
server.shell(name="listening after the wait",
             commands=["mkdir -p /srv/out && { ss -ltn | grep -c ':8099 ' || true; }"
                       " > /srv/out/listening"])
''',
        files={"files/listen_later.sh": LISTEN_LATER},
        state=lambda h: {"listening": h.read_text("/srv/out/listening")},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_scripts_match_pyinfra(differential, case: Case) -> None:
    comparison = differential.check(case)
    if "before" in comparison.pullinfra.state["h1"]:
        # Read while preparing: True on the first run, False on the second (the first removed
        # the marker), so the file is written on both runs and ends with False.
        assert comparison.pullinfra.state["h1"] == {"before": "False\n", "marker": False}
        assert [run["h1"][0].changed for run in comparison.pullinfra.runs] == [True, True]
    elif "hello" in comparison.pullinfra.state["h1"]:
        ours = comparison.pullinfra.state["h1"]
        assert ours["hello"] == "hello one two\n" * 2
        assert ours["greet"] == "hi from h1 on 8080: now\n" * 2
    else:
        assert comparison.pullinfra.state["h1"]["listening"] == "1\n"


REBOOT_DEPLOY = '''
from pyinfra.operations import files, server
files.file(name="marker in /run", path="/run/pullinfra-marker", touch=True)
files.file(name="marker in /etc", path="/etc/pullinfra-marker", touch=True)
server.reboot(name="reboot", delay=2, interval=1, reboot_timeout=60)
server.shell(name="after the reboot",
             commands=["test ! -e /run/pullinfra-marker && touch /etc/ran-on-a-fresh-run"])
'''

REBOOT_PATHS = ["/run/pullinfra-marker", "/etc/pullinfra-marker", "/etc/ran-on-a-fresh-run"]

REBOOT_CASE = Case(
    name="server.reboot on a systemd host, then an operation on the rebooted host",
    deploy=REBOOT_DEPLOY,
    systemd=True,
    # Boots since the host was reset: the first, then one per run.
    state=lambda h: {"boots": h.boot, **{path: h.exists(path) for path in REBOOT_PATHS}},
)


def test_reboot_matches_pyinfra(differential) -> None:
    comparison = differential.run(REBOOT_CASE)
    ours = comparison.pullinfra
    assert not ours.failures, ours.failures
    assert ours.state["h1"] == {"boots": 3, "/run/pullinfra-marker": False,
                                "/etc/pullinfra-marker": True, "/etc/ran-on-a-fresh-run": True}
    comparison.assert_same()
