"""The SSH connector against real sshd hosts of the test bed."""

from __future__ import annotations

import pytest

from agent.engine.run import RunOptions, run_deploy

pytestmark = pytest.mark.bed

DEPLOY = """
from pyinfra import host
from pyinfra.facts.server import Hostname
from tests.engine.testops import Echo, mark, shell, upload

mark(name="first", label=host.get_fact(Echo, text=host.name))
upload(name="upload", data=f"hello {host.name}\\n".encode(), dest="/tmp/pullinfra-up.txt")
shell("id -un > /tmp/pullinfra-sudo.txt", name="as sudo", _sudo=True)
shell("pwd > /tmp/pullinfra-chdir.txt; echo $GREETING >> /tmp/pullinfra-chdir.txt",
      name="chdir env", _chdir="/var", _env={"GREETING": "hi there"})
if "db" in host.groups:
    shell("echo boom >&2; exit 7", name="db breaks")
mark(name="last", label="last")
"""


def test_apply_over_ssh_on_two_hosts(bed_hosts, bed_inventory, write):
    web, db = bed_hosts(2)
    inventory = bed_inventory({"web-01": web, "db-01": db}, groups={"web": ["web-01"],
                                                                    "db": ["db-01"]})
    deploy = write("deploy.py", DEPLOY)
    result = run_deploy(inventory, [deploy], RunOptions(data={"log": "/tmp/pullinfra.log"}))

    assert result.host("web-01").status == "changed", result.host("web-01").error
    assert web.read_text("/tmp/pullinfra.log").split() == ["web-01", "last"]
    assert web.read_text("/tmp/pullinfra-up.txt") == "hello web-01\n"
    assert oct(web.stat("/tmp/pullinfra-up.txt").st_mode & 0o777) == "0o640"
    assert web.read_text("/tmp/pullinfra-sudo.txt").strip() == "root"
    assert web.read_text("/tmp/pullinfra-chdir.txt").split("\n")[:2] == ["/var", "hi there"]
    upload_result = result.host("web-01").operations[1]
    assert "+hello web-01" in upload_result.diff

    failed = result.host("db-01")
    assert failed.status == "failed"
    assert failed.operations[-1].exit_code == 7 and failed.operations[-1].stderr_tail == "boom"
    assert db.read_text("/tmp/pullinfra.log").split() == ["db-01"]

    again = run_deploy(inventory, [deploy], RunOptions(data={"log": "/tmp/pullinfra.log"},
                                                       limit=["web"]))
    assert again.host("web-01").operations[1].status == "no_change"


def test_unreachable_and_host_key_policies(bed_hosts, write, tmp_path):
    (host,) = bed_hosts(1)
    fresh_known = tmp_path / "known_hosts"
    base = {**host.ssh_data, "ssh_known_hosts_file": str(fresh_known)}
    deploy = write("deploy.py", "from tests.engine.testops import shell\nshell('true')\n")

    def inventory(name: str, policy: str):
        data = {**base, "ssh_strict_host_key_checking": policy}
        return write(f"{name}.py", f"h = [({name!r}, {data!r})]\n")

    strict = inventory("strict", "yes")
    result = run_deploy(strict, [deploy])
    assert result.host("strict").status == "unreachable"
    assert not fresh_known.exists()

    accept = inventory("new", "accept-new")
    assert run_deploy(accept, [deploy]).host("new").status == "changed"
    assert host.address in fresh_known.read_text()
    assert run_deploy(strict, [deploy]).host("strict").status == "changed"

    host.stop_sshd()
    try:
        result = run_deploy(strict, [deploy])
        assert result.host("strict").status == "unreachable"
        assert "cannot connect" in result.host("strict").error
    finally:
        host.start_sshd()
