"""Acceptance 2: the global order follows pyinfra's rule, whatever the inventory host order.

The expected order is computed twice, independently of pullinfra: written out by hand from
pyinfra's rule, and by real pyinfra 3.x itself (its CLI inventory loader, its SSH connector to
the same bed hosts and its State.get_op_order), in a process of its own venv (tests/oracle.py).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tests.acceptance.conftest import pullinfra
from tests.oracle import run_oracle_file

pytestmark = pytest.mark.bed

REAL_PYINFRA_ORDER = Path(__file__).with_name("real_pyinfra_order.py")

DEPLOY = '''\
from pyinfra import host
from pyinfra.operations import server


def log(name):
    server.shell(name=name, commands=[f"echo {name} >> /tmp/order.log"])


def helper(tag):
    log(f"helper-{tag}")


log("first")
for item in host.loop(["a", "b"]):
    log(f"loop-{item}")
    if "web" in host.groups:
        log(f"web-{item}")
    helper(item)
for n in [1, 2]:
    server.shell(name=f"plain-{n}", commands=[f"echo plain-{n} >> /tmp/order.log"])
if "db" in host.groups:
    log("db-only")
helper("end")
log("last")
'''

# pyinfra's rule by hand: per-host sequences are DAG edges; ready ops go by call-site lines.
EXPECTED = ["first", "loop-a", "web-a", "helper-a", "loop-b", "web-b", "helper-b",
            "plain-1", "plain-2", "db-only", "helper-end", "last"]
ROLES = {"web-01": {"web"}, "web-02": {"web"}, "db-01": {"db"}, "both-01": {"web", "db"}}


def expected_for(name: str) -> list[str]:
    roles = ROLES[name]
    return [op for op in EXPECTED
            if not (op.startswith("web-") and "web" not in roles)
            and not (op == "db-only" and "db" not in roles)]


def real_pyinfra_order(inventory: Path, deploy: Path) -> list[tuple[str, tuple[str, ...]]]:
    proc = run_oracle_file(REAL_PYINFRA_ORDER, [str(inventory), str(deploy)], cwd="/")
    return [(name, tuple(sorted(hosts))) for name, hosts in json.loads(proc.stdout)]


@pytest.mark.parametrize("shuffle_seed", [1, 2, 3])
def test_order_matches_pyinfra_on_shuffled_host_orders(
    shuffle_seed, bed_hosts, bed_inventory, write, apply
):
    rng = random.Random(shuffle_seed)
    names = list(ROLES)
    rng.shuffle(names)
    hosts = dict(zip(names, bed_hosts(4), strict=True))
    groups = {"web": [n for n in names if "web" in ROLES[n]],
              "db": [n for n in names if "db" in ROLES[n]]}
    if rng.random() < 0.5:
        groups = dict(reversed(groups.items()))
    inventory = bed_inventory(hosts, groups=groups)
    deploy = write("deploy.py", DEPLOY)

    result = apply(inventory, deploy)

    assert result.failed_hosts == [], [h.error for h in result.hosts]
    ours = [(op.name, tuple(sorted(op.hosts))) for op in result.operations]
    assert [name for name, _ in ours] == EXPECTED
    assert ours == real_pyinfra_order(inventory, deploy)
    for name, host in hosts.items():  # each host really ran its ops in that order
        assert host.read_text("/tmp/order.log").split() == expected_for(name), name


CYCLE = '''\
from pyinfra import host
from pyinfra.operations import server

for i in range(2):
    if not ("db" in host.groups and i == 0):
        server.shell(name="A", commands=["touch /tmp/cycle-A"])
    server.shell(name="B", commands=["touch /tmp/cycle-B"])
'''


def test_true_ordering_cycle_is_a_clear_error_exit_2(bed_hosts, bed_inventory, write):
    web, db = bed_hosts(2)
    inventory = bed_inventory({"web-01": web, "db-01": db},
                              groups={"web": ["web-01"], "db": ["db-01"]})
    deploy = write("deploy.py", CYCLE)

    proc = pullinfra("apply", inventory, deploy)

    assert proc.returncode == 2, proc.stderr
    assert "contradicting orders" in proc.stderr
    assert "host.loop(" in proc.stderr  # says how to fix it
    assert f"{deploy}:" in proc.stderr
    assert "Traceback" not in proc.stderr
    for host in (web, db):
        assert not host.exists("/tmp/cycle-A") and not host.exists("/tmp/cycle-B")
    # Real pyinfra finds the same cycle in the same deploy and inventory.
    real = run_oracle_file(REAL_PYINFRA_ORDER, [str(inventory), str(deploy)], cwd="/",
                           check=False)
    assert real.returncode != 0 and "Cycle detected" in real.stderr
