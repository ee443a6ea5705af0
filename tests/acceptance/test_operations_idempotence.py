"""Acceptance 3 for the operations of issue 3, plus `_sudo` as a non-root user and `plan`.

Every deploy runs twice on bed hosts over SSH: the first run changes the hosts (checked
directly), the second reports "No change" for every operation. server.shell is not
idempotent and is left out of these deploys on purpose.
"""

from __future__ import annotations

import pytest

from tests.acceptance.conftest import all_op_statuses, pullinfra, statuses

pytestmark = pytest.mark.bed

FILES_AND_SERVICE = '''\
from pyinfra import host
from pyinfra.operations import apt, files, server

files.directory(name="directory", path="/srv/app/conf", mode="750", recursive=True)
files.file(name="file", path="/srv/app/conf/settings.cfg", mode="640")
files.put(name="put", src="payload.txt", dest="/srv/app/payload.txt", mode="644")
files.template(name="template", src="app.conf.j2", dest="/srv/app/conf/app.conf",
               port=8080)
files.line(name="line", path="/srv/app/conf/settings.cfg", line="^debug=.*$",
           replace="debug=false")
files.link(name="link", path="/srv/app/current", target="/srv/app/conf")
apt.packages(name="dummy 1.0", packages=["pullinfra-dummy=1.0"])
apt.packages(name="svc package", packages=["pullinfra-svc"])
server.service(name="svc running", service="pullinfra-svc", running=True)
'''

UPGRADE = '''\
from pyinfra.operations import apt

apt.packages(name="dummy latest", packages=["pullinfra-dummy"], latest=True)
'''


def test_files_apt_and_service_ops_change_once_then_report_no_change(
    bed_hosts, bed_inventory, write, apply
):
    machines = bed_hosts(2)
    hosts = dict(zip(["app-01", "app-02"], machines, strict=True))
    inventory = bed_inventory(hosts)
    write("payload.txt", "payload\n")
    write("app.conf.j2", "# {{ host.name }}\nport={{ port }}\ndebug=true\n")
    deploy = write("deploy.py", FILES_AND_SERVICE)

    first = apply(inventory, deploy)
    assert first.failed_hosts == [], [h.error for h in first.hosts]
    assert set(all_op_statuses(first).values()) == {"changed"}, all_op_statuses(first)
    for name, host in hosts.items():
        assert oct(host.stat("/srv/app/conf").st_mode & 0o777) == "0o750"
        assert oct(host.stat("/srv/app/conf/settings.cfg").st_mode & 0o777) == "0o640"
        assert host.read_text("/srv/app/conf/settings.cfg") == "debug=false\n"
        assert host.read_text("/srv/app/payload.txt") == "payload\n"
        assert host.read_text("/srv/app/conf/app.conf") == f"# {name}\nport=8080\ndebug=true\n"
        assert host.run("readlink /srv/app/current").stdout.strip() == "/srv/app/conf"
        assert host.package_version("pullinfra-dummy") == "1.0"
        assert host.package_version("pullinfra-svc") is not None
        assert host.run("/etc/init.d/pullinfra-svc status").returncode == 0, name

    second = apply(inventory, deploy)
    assert second.failed_hosts == []
    assert len(all_op_statuses(second)) == 2 * 9
    assert set(all_op_statuses(second).values()) == {"no_change"}, all_op_statuses(second)

    upgrade = write("upgrade.py", UPGRADE)
    assert statuses(apply(inventory, upgrade), "dummy latest") == dict.fromkeys(hosts, "changed")
    for host in machines:
        assert host.package_version("pullinfra-dummy") == "2.0"
    assert statuses(apply(inventory, upgrade), "dummy latest") == dict.fromkeys(
        hosts, "no_change")


SUDO = '''\
from pyinfra.operations import files

files.directory(name="root dir", path="/opt/rootonly", mode="700", _sudo=True)
files.file(name="root file", path="/opt/rootonly/made-with-sudo", _sudo=True)
files.file(name="own file", path="/tmp/made-as-deploy")
'''


def test_sudo_over_ssh_as_the_deploy_user(bed_hosts, write, apply):
    (machine,) = bed_hosts(1)
    data = {**machine.ssh_data, "ssh_user": "deploy"}
    inventory = write("inventory.py", f"hosts = [('app-01', {data!r})]\n")
    deploy = write("deploy.py", SUDO)
    deploy_uid = int(machine.run("id -u deploy", check=True).stdout)

    first = apply(inventory, deploy)
    assert first.failed_hosts == [], first.host("app-01").error
    assert set(all_op_statuses(first).values()) == {"changed"}
    made = machine.stat("/opt/rootonly/made-with-sudo")
    assert made is not None and (made.st_uid, made.st_gid) == (0, 0)
    assert machine.stat("/opt/rootonly").st_uid == 0
    assert machine.stat("/tmp/made-as-deploy").st_uid == deploy_uid

    second = apply(inventory, deploy)
    assert set(all_op_statuses(second).values()) == {"no_change"}, all_op_statuses(second)


PLAN = '''\
from pyinfra.operations import files

files.put(name="motd", src="motd.txt", dest="/etc/motd")
files.file(name="new file", path="/etc/pullinfra-planned")
'''


def test_plan_shows_a_unified_diff_and_changes_nothing(bed_hosts, bed_inventory, write):
    (machine,) = bed_hosts(1)
    machine.write_file("/etc/motd", "old line\nkept line\n")
    inventory = bed_inventory({"app-01": machine})
    write("motd.txt", "new line\nkept line\n")
    deploy = write("deploy.py", PLAN)

    proc = pullinfra("plan", inventory, deploy, "--detailed-exitcode")

    assert proc.returncode == 3, proc.stderr
    assert "--- a/etc/motd" in proc.stderr and "+++ b/etc/motd" in proc.stderr
    assert "-old line" in proc.stderr and "+new line" in proc.stderr
    assert machine.read_text("/etc/motd") == "old line\nkept line\n"
    assert not machine.exists("/etc/pullinfra-planned")

    assert pullinfra("apply", inventory, deploy).returncode == 0
    assert machine.read_text("/etc/motd") == "new line\nkept line\n"
    again = pullinfra("plan", inventory, deploy, "--detailed-exitcode")
    assert again.returncode == 0, again.stderr
    assert "+new line" not in again.stderr
