"""server operations run for real through run_deploy, on a bed host.

server.service goes, as pyinfra's does on a host without a running systemd, to the
/etc/init.d script itself (sysvinit.service), so it needs a host with a real init.d service:
the bed's `pullinfra-svc` package, rather than this machine's own services.
"""

from __future__ import annotations

from agent.compat import run_deploy
from agent.engine.result import RunResult

DEPLOY = """
from pyinfra.operations import server

start = server.service(name="start svc", service="pullinfra-svc")
server.service(
    name="restart svc", service="pullinfra-svc", running=None, restarted=True,
    _if=start.did_change,
)
server.shell(name="shell", commands=["echo ran >> /root/shell.log"])
"""


def _statuses(result: RunResult) -> dict[str, str]:
    [host] = result.hosts
    assert not result.has_failures, [op.error for op in host.operations]
    return {op.name: op.status for op in host.operations}


def test_service_and_shell_run_for_real(bed_host, bed_inventory, write) -> None:
    bed_host.run("DEBIAN_FRONTEND=noninteractive apt-get install -y -q pullinfra-svc",
                 check=True)
    inventory = str(bed_inventory({"svc-01": bed_host}))
    deploy = [str(write("deploy.py", DEPLOY))]

    first = _statuses(run_deploy(inventory, deploy))
    # The restart (running=None: only a running service is restarted) saw the live state left
    # by the start before it; from facts read before the start it would have done nothing.
    assert first == {"start svc": "changed", "restart svc": "changed", "shell": "changed"}
    assert bed_host.run(["/etc/init.d/pullinfra-svc", "status"]).returncode == 0

    second = _statuses(run_deploy(inventory, deploy))
    assert second == {"start svc": "no_change", "restart svc": "skipped", "shell": "changed"}
    assert bed_host.read_text("/root/shell.log") == "ran\nran\n"
