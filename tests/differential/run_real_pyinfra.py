"""Run a deploy with real pyinfra and print each host's operation results as JSON.

Run with the oracle venv's python, importing nothing of pullinfra's (see tests/oracle.py):
    .venv-oracle/bin/python -I run_real_pyinfra.py INVENTORY DEPLOY
The working directory is the deploy's project (templates and files beside the deploy are found
from it, as with pyinfra's CLI). Prints {"hosts": {host: [[op name, changed, success], ...]}}
with each host's operations in pyinfra's execution order, read from pyinfra's own operation
meta: `success` is null for an operation pyinfra never executed on the host (e.g. after an
earlier failure). A deploy that raises exits non-zero with pyinfra's traceback on stderr.
"""

import json
import os
import sys

import pyinfra
from pyinfra.api import Config, State
from pyinfra.api.connect import connect_all, disconnect_all
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.operations import run_ops
from pyinfra.api.state import StateStage
from pyinfra.context import ctx_config, ctx_inventory, ctx_state
from pyinfra_cli.inventory import make_inventory
from pyinfra_cli.util import load_deploy_file


def host_results(state: State, host) -> list:
    results = []
    for op_hash in state.get_op_order():
        op_data = state.ops[host].get(op_hash)
        if op_data is None:
            continue
        name = ", ".join(sorted(state.op_meta[op_hash].names))
        meta = op_data.operation_meta
        if meta.is_complete():
            results.append([name, meta.did_change(), meta.did_succeed()])
        else:
            results.append([name, False, None])
    return results


def main(inventory_path: str, deploy_path: str) -> None:
    # The CLI's steps: CLI mode (op order from the call stack), the working directory on
    # sys.path and as state.cwd, then config, inventory, init, connect, prepare, execute.
    pyinfra.is_cli = True
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.append(cwd)
    state = State(check_for_changes=True)
    state.cwd = cwd
    ctx_state.set(state)
    config = Config()
    ctx_config.set(config)
    inventory = make_inventory(inventory_path)
    ctx_inventory.set(inventory)
    state.init(inventory, config)
    state.set_stage(StateStage.Connect)
    connect_all(state)
    if len(state.activated_hosts) != len(inventory):
        raise SystemExit("real pyinfra could not connect to every host")
    state.set_stage(StateStage.Prepare)
    state.current_op_file_number = 0
    load_deploy_file(state, deploy_path)
    state.set_stage(StateStage.Execute)
    try:
        run_ops(state)
    except PyinfraError as exc:  # every host failed: the per-host results still say where
        print(f"real pyinfra: {exc}", file=sys.stderr)
    state.set_stage(StateStage.Disconnect)
    disconnect_all(state)
    json.dump({"hosts": {h.name: host_results(state, h) for h in inventory}}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
