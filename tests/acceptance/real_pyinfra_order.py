"""Print the global operation order real pyinfra computes for INVENTORY DEPLOY, as JSON.

Run as a script with the oracle venv's python (real pyinfra 3.x is installed there, and only
there: see tests/oracle.py), importing nothing of pullinfra's:
    .venv-oracle/bin/python -I real_pyinfra_order.py INVENTORY DEPLOY
It loads the inventory with pyinfra's own CLI loader, connects to the hosts over SSH with
pyinfra's own connector, runs the deploy's prepare stage and prints
[[op name, [host names in inventory order]], ...] in pyinfra's execution order. Nothing is
executed on the hosts.
"""

import json
import sys

import pyinfra
from pyinfra.api import Config, State
from pyinfra.api.connect import connect_all, disconnect_all
from pyinfra.api.state import StateStage
from pyinfra.context import ctx_config, ctx_inventory, ctx_state
from pyinfra_cli.inventory import make_inventory
from pyinfra_cli.util import load_deploy_file


def main(inventory_path: str, deploy_path: str) -> None:
    # The same steps as pyinfra_cli: CLI mode (op order from the call stack), state first,
    # then config, inventory, init, connect.
    pyinfra.is_cli = True
    state = State()
    ctx_state.set(state)
    config = Config()
    ctx_config.set(config)
    inventory = make_inventory(inventory_path)
    ctx_inventory.set(inventory)
    state.init(inventory, config)
    state.set_stage(StateStage.Connect)
    connect_all(state)
    state.set_stage(StateStage.Prepare)
    if len(state.activated_hosts) != len(inventory):
        raise SystemExit("real pyinfra could not connect to every host")
    state.current_op_file_number = 0
    load_deploy_file(state, deploy_path)
    order = []
    for op_hash in state.get_op_order():
        names = sorted(state.op_meta[op_hash].names)
        hosts = [h.name for h in inventory if op_hash in h.op_hash_order]
        order.append([", ".join(names), hosts])
    state.set_stage(StateStage.Disconnect)
    disconnect_all(state)
    json.dump(order, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
