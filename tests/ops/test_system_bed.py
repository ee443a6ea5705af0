"""crontab.crontab, server.crontab and server.sysctl on a real bed host over SSH.

The first run changes the host, the second reports no change for every operation, and the
state is read inside the host: `crontab -l -u root`, /proc/sys and the persist file. Only
net.* sysctls are set: bed hosts share the machine's kernel, and those are per network
namespace, so they change the bed host alone.
"""

from __future__ import annotations

from pathlib import Path

from agent.compat import run_deploy
from agent.engine.result import RunResult
from agent.engine.run import RunOptions

DEPLOY = '''
from pyinfra.operations import crontab, server

crontab.crontab(
    name="backup",
    command="/bin/tar cf /tmp/etc.tar /etc",
    cron_name="backup_etc",
    user="root",
    day_of_week=0,
    hour=1,
    minute=[0, 30],
)
server.crontab(name="reboot", command="/bin/true reboot", user="root", special_time="@reboot")
crontab.crontab(name="gone", command="/bin/old job", user="root", present=False)
server.sysctl(name="forward", key="net.ipv4.ip_forward", value=1, persist=True,
              persist_file="/etc/sysctl.d/90-bed.conf")
server.sysctl(name="ports", key="net.ipv4.ip_local_port_range", value=[20000, 40000])
'''

OPS = ["backup", "reboot", "gone", "forward", "ports"]


def _statuses(result: RunResult, host: str) -> dict[str, str]:
    return {op.name: op.status for op in result.host(host).operations}


def test_crontab_and_sysctl_apply_then_settle(bed_host, bed_inventory, tmp_path: Path) -> None:
    bed_host.run("printf '* * * * * /bin/old job\\n' | crontab -u root -", check=True)
    bed_host.write_file("/etc/sysctl.d/90-bed.conf", "net.ipv4.ip_forward=0\n")
    bed_host.run("sysctl -w net.ipv4.ip_forward=0", check=True)
    deploy = tmp_path / "deploy.py"
    deploy.write_text(DEPLOY)
    inventory = bed_inventory({"bed-1": bed_host})

    first = run_deploy(str(inventory), [str(deploy)], RunOptions())
    assert _statuses(first, "bed-1") == dict.fromkeys(OPS, "changed"), first.host("bed-1").error

    listed = bed_host.run("crontab -l -u root", check=True).stdout
    # The blank line stays where the removed entry was: pyinfra separates a new entry from
    # existing ones with one and never removes it.
    assert listed.splitlines() == [
        "",
        "# pyinfra-name=backup_etc",
        "0,30 1 * * 0 /bin/tar cf /tmp/etc.tar /etc",
        "",
        "@reboot /bin/true reboot",
    ]
    assert bed_host.run("cat /proc/sys/net/ipv4/ip_forward").stdout.strip() == "1"
    ports = bed_host.run("cat /proc/sys/net/ipv4/ip_local_port_range").stdout.split()
    assert ports == ["20000", "40000"]
    # As in pyinfra, the persist line is matched with its value, so a line with another value
    # is left in place and the new one appended after it (the last one wins at boot).
    assert bed_host.read_text("/etc/sysctl.d/90-bed.conf") == (
        "net.ipv4.ip_forward=0\nnet.ipv4.ip_forward = 1\n"
    )

    second = run_deploy(str(inventory), [str(deploy)], RunOptions())
    assert _statuses(second, "bed-1") == dict.fromkeys(OPS, "no_change")
    assert bed_host.run("crontab -l -u root", check=True).stdout == listed
