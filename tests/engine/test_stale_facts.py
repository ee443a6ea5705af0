"""The stale-fact rule (issue 13): an operation never acts on a fact that an earlier operation
on the same host made stale.

Each deploy runs on real bed hosts over SSH through the engine `pullinfra apply` runs. In
every test, a later operation reads a fact about something an earlier operation changed (a
file, a package, an account), and its right outcome differs from what it would do on the
host as it was before the earlier operation ran. So a fact read while preparing, or kept
from before the change, makes the test fail: by the operation's status (changed where it
should report no change, or the reverse, or failed) and by the host's final state, read
directly inside the host (nsenter), never through the engine. Each deploy then runs again:
operations that only describe state settle to "no change"; those that pair with a command
run behind the engine's back (server.shell) change again, and the state ends the same.

The facts involved differ between the two operations on purpose (files.put's checksum then
files.line's matching lines, the account list then the group list), so dropping only the
fact the changing operation read is not enough either. Two tests run on two hosts: facts
stay per host, and a change on one host neither refreshes nor spoils the other's.
tests/differential/test_stale_facts.py runs the same deploys through real pyinfra.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from agent.compat import run_deploy
from agent.engine.result import OpHostResult, RunResult
from agent.engine.run import RunOptions
from tests.differential import state

pytestmark = pytest.mark.bed

CHANGED, NO_CHANGE, SKIPPED = "changed", "no_change", "skipped"

CONF = "# written by files.put\nport=8080\nworkers=4\n"


def _apply(inventory: Path, deploy: Path) -> RunResult:
    result = run_deploy(str(inventory), [str(deploy)], RunOptions())
    assert result.aborted is None, result.aborted
    return result


def _statuses(result: RunResult) -> dict[str, dict[str, str]]:
    """{host: {operation name: status}} of the run."""
    return {h.name: {op.name: str(op.status) for op in h.operations} for h in result.hosts}


def _expect(result: RunResult, expected: Mapping[str, Mapping[str, str]]) -> None:
    errors = {h.name: h.error for h in result.hosts if h.error}
    assert _statuses(result) == expected, errors


def _op(result: RunResult, host: str, name: str) -> OpHostResult:
    (found,) = [op for op in result.host(host).operations if op.name == name]
    return found


FILE_WRITTEN_BY_AN_OPERATION = '''
from pyinfra.operations import files

files.put(name="put", src="stale.conf", dest="/srv/stale/app.conf")
files.put(name="put again", src="stale.conf", dest="/srv/stale/app.conf")
files.line(name="line present", path="/srv/stale/app.conf", line="^port=8080$")
'''


def test_file_put_by_one_operation_is_seen_by_the_next(bed_host, bed_inventory, write):
    """Stale "no such file": `put again` would upload again (changed) and `line present`
    would append a second port line."""
    inventory = bed_inventory({"h1": bed_host})
    write("stale.conf", CONF)
    deploy = write("deploy.py", FILE_WRITTEN_BY_AN_OPERATION)
    assert not bed_host.exists("/srv/stale")

    first = _apply(inventory, deploy)
    _expect(first, {"h1": {"put": CHANGED, "put again": NO_CHANGE, "line present": NO_CHANGE}})
    assert _op(first, "h1", "put again").commands == []
    assert _op(first, "h1", "line present").commands == []
    assert bed_host.read_text("/srv/stale/app.conf") == CONF

    second = _apply(inventory, deploy)
    _expect(second, {"h1": dict.fromkeys(["put", "put again", "line present"], NO_CHANGE)})
    assert bed_host.read_text("/srv/stale/app.conf") == CONF


FILES_CHANGED_BY_COMMANDS = '''
from pyinfra.operations import files, server

files.file(name="y absent at first", path="/srv/stale-y", present=False)
files.file(name="z present at first", path="/srv/stale-z")
server.shell(name="y by hand", commands=["printf 'made by hand\\\\n' > /srv/stale-y"])
files.file(name="y absent", path="/srv/stale-y", present=False)
server.shell(name="z gone by hand", commands=["rm -f /srv/stale-z"])
files.file(name="z present", path="/srv/stale-z")
'''


def test_file_changed_by_a_command_is_seen_by_files_file(bed_host, bed_inventory, write):
    """A command the engine cannot see into creates one file and removes another; files.file
    must act on both as they are now (stale: y "absent" and z "present", both no change).
    The same facts are read first, before the commands, while nothing has changed yet."""
    bed_host.write_file("/srv/stale-z", "there before the run\n")
    inventory = bed_inventory({"h1": bed_host})
    deploy = write("deploy.py", FILES_CHANGED_BY_COMMANDS)
    expected = {"h1": {"y absent at first": NO_CHANGE, "z present at first": NO_CHANGE,
                       **dict.fromkeys(["y by hand", "y absent", "z gone by hand", "z present"],
                                       CHANGED)}}

    for _ in range(2):  # the commands undo the files' state each run: both runs act alike
        _expect(_apply(inventory, deploy), expected)
        assert not bed_host.exists("/srv/stale-y")
        assert bed_host.read_text("/srv/stale-z") == ""


TEMPLATE_THEN_LINES = '''
from pyinfra.operations import files

files.template(name="template", src="app.conf.j2", dest="/srv/stale/app.conf", port=8080)
files.line(name="port line", path="/srv/stale/app.conf", line="^port=8080$")
files.line(name="debug off", path="/srv/stale/app.conf", line="^debug=.*$",
           replace="debug=false")
files.line(name="debug off again", path="/srv/stale/app.conf", line="^debug=.*$",
           replace="debug=false")
'''


def test_line_edits_the_file_a_template_just_rendered(bed_host, bed_inventory, write):
    """`debug off` must rewrite the rendered debug line in place (stale "no such file": it
    appends a second one) and `debug off again` then finds it done (stale: sed again). The
    template renders debug=true again on every run, so run 2 must edit again too (stale from
    before run 2's template: "debug=false is there", no change)."""
    inventory = bed_inventory({"h1": bed_host})
    write("app.conf.j2", "# {{ host.name }}\nport={{ port }}\ndebug=true\n")
    deploy = write("deploy.py", TEMPLATE_THEN_LINES)
    expected = {"h1": {"template": CHANGED, "port line": NO_CHANGE, "debug off": CHANGED,
                       "debug off again": NO_CHANGE}}

    for _ in range(2):
        run = _apply(inventory, deploy)
        _expect(run, expected)
        assert bed_host.read_text("/srv/stale/app.conf") == "# h1\nport=8080\ndebug=false\n"
        assert "debug=true" in (_op(run, "h1", "template").diff or "")


PACKAGE_INSTALLED_THEN_REMOVED = '''
from pyinfra.operations import apt, server

apt.packages(name="install", packages=["pullinfra-dummy-extra"])
apt.packages(name="install again", packages=["pullinfra-dummy-extra"])
apt.packages(name="remove", packages=["pullinfra-dummy-extra"], present=False)
apt.packages(name="remove again", packages=["pullinfra-dummy-extra"], present=False)
apt.packages(name="dummy absent at first", packages=["pullinfra-dummy"], present=False)
server.shell(name="dummy by hand", commands=[
    "DEBIAN_FRONTEND=noninteractive apt-get install -y -q pullinfra-dummy=1.0"])
apt.packages(name="dummy removed", packages=["pullinfra-dummy"], present=False)
'''


def test_package_installed_by_one_operation_is_seen_by_the_next(
    apt_repo, bed_host, bed_inventory, write
):
    """Stale "not installed": `install again` would run apt-get install (changed) and
    `remove` would do nothing, leaving the package installed; stale "installed" from before
    `remove`: `remove again` would run apt-get remove. pullinfra-dummy is installed by a
    command (no fact read or changed by the engine), and `dummy removed` must remove it."""
    for name in ("pullinfra-dummy", "pullinfra-dummy-extra"):
        assert name in apt_repo.packages
        assert bed_host.package_version(name) is None
    inventory = bed_inventory({"h1": bed_host})
    deploy = write("deploy.py", PACKAGE_INSTALLED_THEN_REMOVED)
    expected = {"h1": {"install": CHANGED, "install again": NO_CHANGE, "remove": CHANGED,
                       "remove again": NO_CHANGE, "dummy absent at first": NO_CHANGE,
                       "dummy by hand": CHANGED, "dummy removed": CHANGED}}

    for _ in range(2):  # the deploy removes what it installed: run 2 acts as run 1
        run = _apply(inventory, deploy)
        _expect(run, expected)
        for name in ("install again", "remove again", "dummy absent at first"):
            assert _op(run, "h1", name).commands == [], name
        assert "remove pullinfra-dummy" in " ".join(_op(run, "h1", "dummy removed").commands)
        assert bed_host.package_version("pullinfra-dummy-extra") is None
        assert bed_host.package_version("pullinfra-dummy") is None


ACCOUNTS = '''
from pyinfra.operations import server

server.user(name="alice", user="alice")
server.user(name="alice shell", user="alice", shell="/bin/bash")
server.user(name="alice shell again", user="alice", shell="/bin/bash")
server.shell(name="bob by hand", commands=["useradd -M bob"])
server.user(name="bob gone", user="bob", present=False)
server.shell(name="carol gone by hand", commands=["userdel carol"])
server.user(name="carol", user="carol")
'''


def test_accounts_changed_by_earlier_operations(bed_host, bed_inventory, write):
    """alice, created by server.user, then gets another shell through usermod alone (stale
    "no such user": useradd fails, the user exists); bob, made by a command, is deleted (stale:
    no change); carol, deleted by a command, is made again (stale: "exists", no change; stale
    groups: useradd -g carol, a group userdel removed, fails)."""
    bed_host.run("useradd -m carol", check=True)
    inventory = bed_inventory({"h1": bed_host})
    deploy = write("deploy.py", ACCOUNTS)

    first = _apply(inventory, deploy)
    by_hand = dict.fromkeys(["bob by hand", "bob gone", "carol gone by hand", "carol"], CHANGED)
    _expect(first, {"h1": {"alice": CHANGED, "alice shell": CHANGED,
                           "alice shell again": NO_CHANGE, **by_hand}})
    shell_commands = " ; ".join(_op(first, "h1", "alice shell").commands)
    assert "usermod -s /bin/bash alice" in shell_commands
    assert "useradd" not in shell_commands
    assert "userdel bob" in " ; ".join(_op(first, "h1", "bob gone").commands)
    carol_commands = " ; ".join(_op(first, "h1", "carol").commands)
    assert "useradd" in carol_commands and "-g carol" not in carol_commands

    def check_accounts() -> None:
        found = state.users(bed_host, ["alice", "bob", "carol"])
        assert found["alice"] is not None and found["alice"]["shell"] == "/bin/bash"
        assert found["alice"]["home"] == "/home/alice" and found["alice"]["home_exists"]
        assert found["bob"] is None
        assert found["carol"] is not None and found["carol"]["primary_group"] == "carol"

    check_accounts()
    second = _apply(inventory, deploy)
    _expect(second, {"h1": {**dict.fromkeys(["alice", "alice shell", "alice shell again"],
                                            NO_CHANGE), **by_hand}})
    check_accounts()


GUARDED = '''
from pyinfra.operations import files

conf = files.put(name="conf", src="guard.conf", dest="/srv/guard.conf")
files.put(name="conf again", src="guard.conf", dest="/srv/guard.conf", _if=conf.did_change)
files.line(name="mode on", path="/srv/guard.conf", line="^mode=.*$", replace="mode=on",
           _if=conf.did_change)
'''


def test_operation_guarded_by_did_change_reads_what_the_guard_changed(
    bed_hosts, bed_inventory, write
):
    """On h1 `conf` uploads the file, so the guarded operations run and must see it: `conf
    again` no change (stale "no such file": upload), `mode on` edits the line in place (stale:
    appends a second mode line). h2 already has the file: `conf` changes nothing and both
    guarded operations are skipped. The edit makes `conf` upload again on every run."""
    h1, h2 = bed_hosts(2)
    h2.write_file("/srv/guard.conf", "mode=off\n")
    inventory = bed_inventory({"h1": h1, "h2": h2})
    write("guard.conf", "mode=off\n")
    deploy = write("deploy.py", GUARDED)
    expected = {"h1": {"conf": CHANGED, "conf again": NO_CHANGE, "mode on": CHANGED},
                "h2": {"conf": NO_CHANGE, "conf again": SKIPPED, "mode on": SKIPPED}}

    for _ in range(2):
        _expect(_apply(inventory, deploy), expected)
        assert h1.read_text("/srv/guard.conf") == "mode=on\n"
        assert h2.read_text("/srv/guard.conf") == "mode=off\n"


TWO_HOSTS = '''
from pyinfra.operations import files, server

server.user(name="erin", user="erin")
server.user(name="erin again", user="erin")
files.put(name="conf", src="stale.conf", dest="/srv/shared.conf")
files.put(name="conf again", src="stale.conf", dest="/srv/shared.conf")
files.line(name="conf line", path="/srv/shared.conf", line="^workers=4$")
'''


def test_each_host_acts_on_its_own_facts(bed_hosts, bed_inventory, write):
    """The same deploy on two hosts, each set up by hand for half of it: h1 has erin already,
    h2 has the file. Each operation changes exactly one host, and the operation after it must
    see that host's new state and the other host's unchanged one (no fact of one host used
    for the other, no change on one host leaving the other's facts stale or the reverse)."""
    h1, h2 = bed_hosts(2)
    h1.run("useradd -m erin", check=True)
    h2.write_file("/srv/shared.conf", CONF)
    inventory = bed_inventory({"h1": h1, "h2": h2})
    write("stale.conf", CONF)
    deploy = write("deploy.py", TWO_HOSTS)
    ops = ["erin", "erin again", "conf", "conf again", "conf line"]

    first = _apply(inventory, deploy)
    _expect(first, {"h1": {**dict.fromkeys(ops, NO_CHANGE), "conf": CHANGED},
                    "h2": {**dict.fromkeys(ops, NO_CHANGE), "erin": CHANGED}})
    assert any("useradd" in c for c in _op(first, "h2", "erin").commands)
    assert _op(first, "h1", "erin").commands == []

    def check_hosts() -> None:
        for host in (h1, h2):
            found = state.users(host, ["erin"])["erin"]
            assert found is not None and found["home_exists"], host
            assert host.read_text("/srv/shared.conf") == CONF, host

    check_hosts()
    _expect(_apply(inventory, deploy), dict.fromkeys(["h1", "h2"], dict.fromkeys(ops, NO_CHANGE)))
    check_hosts()
