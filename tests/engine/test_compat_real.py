"""Real pyinfra's own global order for a deploy, to compare pullinfra's with (no SSH).

It runs pyinfra's CLI prepare path (CLI mode, so identity comes from the call stack) in a
subprocess of the oracle venv (tests/oracle.py) whose working directory is the project, as
`pyinfra inv.py deploy.py` would be run there. SCRIPT imports nothing of pullinfra's, and
the oracle's isolated mode keeps the checkout off its path, so the order is pyinfra's own.
Hosts are activated without connecting and operation bodies are not run
(check_for_changes=False), which is enough for the order: it depends on call sites only.
"""

from __future__ import annotations

from pathlib import Path

from tests.oracle import oracle_json

SCRIPT = r"""
import json, os, sys
import pyinfra
from pyinfra.api import Config, State
from pyinfra.api.state import StateStage
from pyinfra.context import ctx_config, ctx_inventory, ctx_state
from pyinfra_cli.inventory import make_inventory
from pyinfra_cli.util import load_deploy_file

pyinfra.is_cli = True
cwd = os.getcwd()
sys.path.append(cwd)
state = State(check_for_changes=False)
state.cwd = cwd
ctx_state.set(state)
config = Config()
ctx_config.set(config)
inventory = make_inventory(sys.argv[1])
ctx_inventory.set(inventory)
state.init(inventory, config)
for one in inventory:
    state.activate_host(one)
state.set_stage(StateStage.Prepare)
for number, path in enumerate(sys.argv[2:]):
    state.current_op_file_number = number
    load_deploy_file(state, path)
order = []
for op_hash in state.get_op_order():
    hosts = [h.name for h in inventory if op_hash in h.op_hash_order]
    order.append([", ".join(sorted(state.op_meta[op_hash].names)), hosts])
json.dump(order, sys.stdout)
"""


def real_pyinfra_order(project: Path, inventory: Path, *deploys: Path) -> list[list]:
    return oracle_json(SCRIPT, [str(inventory), *map(str, deploys)], cwd=project)


def pullinfra_order(result) -> list[list]:
    return [[", ".join(sorted(op.name.split(", "))), list(op.hosts)] for op in result.operations]


INVENTORY = """
web_01 = [("web-01", {"log": "LOGS/web-01.log"})]
db_01 = [("db-01", {"log": "LOGS/db-01.log", "port": 8080})]
both_01 = [("both-01", {"log": "LOGS/both-01.log"})]
web = ["web-01", "both-01"]
db = ["db-01", "both-01"]
"""

DEPLOY = """
from pyinfra import host, local
from pyinfra.api import deploy
from pyinfra.operations import server
from lib.marks import mark

first = mark("first")
with host.when(first.did_change):
    mark("when-true")
    with host.when(first.did_not_change):
        mark("nested-false")
    if "db" in host.groups:
        mark("when-db")
with host.arguments(_ignore_errors=True):
    server.shell(name="fails-ignored", commands=["false"])

@deploy("Web", data_defaults={"port": 80})
def web():
    mark("web", f"web-{host.data.port}")
    if "db" in host.groups:
        mark("web-db")

@deploy("Outer")
def outer():
    mark("outer")
    web()

if "web" in host.groups:
    web()
for item in host.loop(["a", "b"]):
    local.include("tasks/item.py", data={"item": item})
outer()
mark("last")
"""

MARKS = """
from pyinfra import host
from pyinfra.operations import server

def mark(name, label=None):
    return server.shell(name=name, commands=[f"echo {label or name} >> {host.data.log}"])
"""

ITEM = """
from pyinfra import host
from lib.marks import mark

mark("item", f"item-{host.data.item}")
if "web" in host.groups:
    mark("item-web", f"item-web-{host.data.item}")
"""


def test_blocks_deploys_includes_and_helpers_order_like_real_pyinfra(write, run_local, tmp_path):
    inventory = write("inv.py", INVENTORY.replace("LOGS", str(tmp_path)))
    deploy = write("deploy.py", DEPLOY)
    write("lib/marks.py", MARKS)
    write("tasks/item.py", ITEM)

    result = run_local(inventory, deploy)

    expected = real_pyinfra_order(tmp_path, inventory, deploy)
    assert pullinfra_order(result) == expected
    assert [name for name, _ in expected][:6] == [
        "first", "when-true", "nested-false", "when-db", "fails-ignored", "Web | web",
    ]
    assert not result.has_failures
    logs = {h: (tmp_path / f"{h}.log").read_text().split() for h in ("web-01", "db-01")}
    assert logs["web-01"] == [
        "first", "when-true", "web-80", "item-a", "item-web-a", "item-b", "item-web-b",
        "outer", "web-80", "last",
    ]
    assert logs["db-01"] == [
        "first", "when-true", "when-db", "item-a", "item-b", "outer", "web-8080", "web-db",
        "last",
    ]
    web01 = {op.name: op for op in result.hosts[0].operations}
    assert web01["nested-false"].status == "skipped"
    assert web01["fails-ignored"].status == "failed" and web01["fails-ignored"].ignored
