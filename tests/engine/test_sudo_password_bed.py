"""sudo with a password, _get_pty, _stdin, _retry_until and _temp_dir over SSH on bed hosts.

The password must reach sudo and nothing else: not the run's events or report, not any
process's argv on the host (sudo's own log and a `ps` taken while the command runs show it).
doas and dzdo are not installed on the bed hosts; the unit tests check the commands they make.
"""

from __future__ import annotations

import pytest

from agent.compat import run_deploy
from agent.engine.run import RunOptions
from agent.report.build import Provenance, from_result

pytestmark = pytest.mark.bed

PASSWORD = "Sudo-pw-7f3a9c"
WRONG = "Not-the-pw-91bd"

DEPLOY = f"""
from tests.engine.testops import shell, upload
shell("id -un > /tmp/whoami; ps -eo args > /tmp/ps.txt; cat /proc/[0-9]*/cmdline"
      " | tr '\\\\0' ' ' > /tmp/cmdlines.txt", name="as root", _sudo=True)
upload(name="upload", data=b"from alice\\n", dest="/root/from-alice.txt", _sudo=True,
       _temp_dir="/home/alice/up")
shell("cat > /tmp/stdin.txt", name="stdin after password", _sudo=True, _stdin=["one", "two"])
shell("true", name="wrong password", _sudo=True, _sudo_password="{WRONG}")
"""


def _sudo_user_with_password(host) -> None:
    host.run("useradd -m -s /bin/bash alice && install -d -o alice /home/alice/up", check=True)
    host.allow_password_login("alice", PASSWORD)
    host.write_file(
        "/etc/sudoers.d/alice",
        "Defaults logfile=/var/log/sudo.log, lecture=never\nalice ALL=(ALL) ALL\n",
        mode=0o440,
    )


def test_sudo_password_reaches_sudo_only(bed_host, write):
    _sudo_user_with_password(bed_host)
    data = {
        **{k: v for k, v in bed_host.ssh_data.items() if k != "ssh_key"},
        "ssh_user": "alice",
        "ssh_password": PASSWORD,
        "_sudo_password": PASSWORD,
    }
    inventory = write("inv.py", f"h = [('alice-host', {data!r})]\n")
    deploy = write("deploy.py", DEPLOY)
    events: list = []
    result = run_deploy(inventory, [deploy], RunOptions(), events.append)

    ops = {op.name: op for op in result.host("alice-host").operations}
    assert ops["as root"].status == "changed", ops["as root"].error
    assert bed_host.read_text("/tmp/whoami") == "root\n"
    assert ops["upload"].status == "changed", ops["upload"].error
    assert bed_host.read_text("/root/from-alice.txt") == "from alice\n"
    assert bed_host.read_text("/tmp/stdin.txt") == "one\ntwo\n"
    assert ops["wrong password"].status == "failed"
    assert "incorrect password" in ops["wrong password"].stderr_tail

    sudo_log = bed_host.read_text("/var/log/sudo.log") or ""
    assert "COMMAND=/usr/bin/sh -c 'id -un" in sudo_log.replace("\n    ", " ")
    assert "cp /home/alice/up/pullinfra-" in sudo_log.replace("\n    ", " ")
    assert "incorrect password attempt" in sudo_log
    ps_text = bed_host.read_text("/tmp/ps.txt") or ""
    cmdlines = bed_host.read_text("/tmp/cmdlines.txt") or ""
    assert "sudo -H -S -p" in ps_text and "sudo -H -S -p" in cmdlines
    report = from_result(result, Provenance(run_id=result.run_id)).to_json()
    for secret in (PASSWORD, WRONG):
        for text in (sudo_log, ps_text, cmdlines, report, repr(events), repr(result)):
            assert secret not in text
    assert list(bed_host.run("ls /home/alice/up").stdout.split()) == []


PTY_DEPLOY = """
from tests.engine.testops import shell
shell("tty > /tmp/no-pty.txt || true", name="no pty")
shell("tty > /tmp/pty.txt", name="pty", _get_pty=True)
shell("cat > /tmp/stdin.txt", name="stdin", _stdin="first\\nsecond")
shell("head -n1 > /tmp/pty-stdin.txt", name="pty stdin", _get_pty=True, _stdin=["hello"])
shell("cat > /tmp/closed.txt", name="stdin closed")

def until(data):
    return int(data["stdout_lines"][-1]) < 2 and data["executed_commands"] == 1
shell("echo x >> /tmp/retries.txt; wc -l < /tmp/retries.txt", name="retry until",
      _retries=4, _retry_delay=0, _retry_until=until)
"""


def test_pty_stdin_and_retry_until_over_ssh(bed_host, bed_inventory, write):
    inventory = bed_inventory({"h": bed_host})
    events: list = []
    result = run_deploy(inventory, [write("deploy.py", PTY_DEPLOY)], RunOptions(), events.append)
    assert result.host("h").status == "changed", result.host("h").error
    assert bed_host.read_text("/tmp/no-pty.txt") == "not a tty\n"
    assert bed_host.read_text("/tmp/pty.txt").startswith("/dev/pts/")
    assert bed_host.read_text("/tmp/stdin.txt") == "first\nsecond\n"
    assert bed_host.read_text("/tmp/pty-stdin.txt").strip() == "hello"
    assert bed_host.read_text("/tmp/closed.txt") == ""
    assert bed_host.read_text("/tmp/retries.txt").split() == ["x", "x"]
    assert [type(e).__name__ for e in events].count("OperationRetry") == 1


def test_su_password_on_stdin(bed_host, write):
    bed_host.run("useradd -m -s /bin/bash alice", check=True)
    bed_host.run("echo 'root:Root-pw-55e1' | chpasswd", check=True)
    bed_host.allow_password_login("alice", PASSWORD)
    data = {
        **{k: v for k, v in bed_host.ssh_data.items() if k != "ssh_key"},
        "ssh_user": "alice",
        "ssh_password": PASSWORD,
    }
    inventory = write("inv.py", f"h = [('alice-host', {data!r})]\n")
    deploy = write(
        "deploy.py",
        "from tests.engine.testops import shell\n"
        "shell('id -un > /tmp/su-who', name='su', _su_user='root',"
        " _su_password='Root-pw-55e1')\n",
    )
    events: list = []
    result = run_deploy(inventory, [deploy], RunOptions(), events.append)
    op = result.host("alice-host").operations[0]
    assert op.status == "changed", (op.error, op.stderr_tail)
    assert bed_host.read_text("/tmp/su-who") == "root\n"
    assert "Root-pw-55e1" not in repr(events) + repr(result)
