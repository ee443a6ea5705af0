"""The SSH connector against real sshd hosts of the test bed."""

from __future__ import annotations

import subprocess

import pytest

from agent.compat import run_deploy
from agent.engine.run import RunOptions
from agent.report.build import Provenance, from_result

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


def _mark_deploy(write, name: str):
    return write(f"{name}.py", "from tests.engine.testops import shell\n"
                               "shell('id -un > /tmp/pullinfra-who.txt', name='who')\n")


def test_encrypted_key_with_ssh_key_password(bed_hosts, write, tmp_path):
    (host,) = bed_hosts(1)
    key = tmp_path / "id_locked"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "k3y-pass-phrase", "-f", str(key)],
                   check=True)
    host.authorize_key(key.with_suffix(".pub"))
    data = {**host.ssh_data, "ssh_key": str(key)}

    wrong = write("wrong.py", f"h = [('h', {{**{data!r}, 'ssh_key_password': 'nope'}})]\n")
    failed = run_deploy(wrong, [_mark_deploy(write, "d1")]).host("h")
    assert failed.status == "unreachable"
    assert "ssh_key_password" in failed.error and "nope" not in failed.error

    missing = write("missing.py", f"h = [('h', {data!r})]\n")
    locked = run_deploy(missing, [_mark_deploy(write, "d0")]).host("h")
    assert locked.status == "unreachable"
    assert "encrypted: set ssh_key_password" in locked.error

    unlocked = {**data, "ssh_key_password": "k3y-pass-phrase"}
    right = write("right.py", f"h = [('h', {unlocked!r})]\n")
    ok = run_deploy(right, [_mark_deploy(write, "d2")]).host("h")
    assert ok.status == "changed", ok.error
    assert host.read_text("/tmp/pullinfra-who.txt").strip() == "root"


def test_password_login_with_ssh_password(bed_hosts, write):
    (host,) = bed_hosts(1)
    host.allow_password_login("deploy", "Pw-for-deploy-1")
    data = {k: v for k, v in host.ssh_data.items() if k != "ssh_key"}
    data.update(ssh_user="deploy", ssh_password="Pw-for-deploy-1")
    inventory = write("inv.py", f"h = [('h', {data!r})]\n")

    result = run_deploy(inventory, [_mark_deploy(write, "d")])

    assert result.host("h").status == "changed", result.host("h").error
    assert host.read_text("/tmp/pullinfra-who.txt").strip() == "deploy"
    assert "Pw-for-deploy-1" not in from_result(result, Provenance(run_id="r")).to_json()


def test_user_and_shell_global_arguments(bed_hosts, write):
    (host,) = bed_hosts(1)
    inventory = write("inv.py", f"h = [('h', {host.ssh_data!r})]\n")
    deploy = write("deploy.py", """
from tests.engine.testops import shell

shell("id -un > /tmp/as-sudo-user.txt", name="sudo user", _sudo=True, _sudo_user="deploy")
shell("id -un > /tmp/as-su-user.txt", name="su user", _su_user="deploy")
shell("echo bash=$BASH_VERSION > /tmp/in-bash.txt", name="bash", _shell_executable="bash")
shell("echo bash=$BASH_VERSION > /tmp/in-sh.txt", name="sh")
shell("exit 3", name="three is fine", _success_exit_codes=[0, 3])
shell("exit 3", name="three is not fine")
""")

    result = run_deploy(inventory, [deploy]).host("h")

    assert host.read_text("/tmp/as-sudo-user.txt").strip() == "deploy"
    assert host.read_text("/tmp/as-su-user.txt").strip() == "deploy"
    assert host.read_text("/tmp/in-bash.txt").strip() != "bash="
    assert host.read_text("/tmp/in-sh.txt").strip() == "bash="
    statuses = {op.name: op.status for op in result.operations}
    assert statuses["three is fine"] == "changed"
    assert statuses["three is not fine"] == "failed"
    assert result.status == "failed"
