"""Deploy files get this engine for `pyinfra...`; everyone else keeps the real pyinfra."""

from __future__ import annotations

import pytest

from agent.compat.importer import import_pyinfra
from agent.engine.errors import DeployError, InventoryError, UnknownNameError
from agent.engine.imports import user_builtins
from agent.engine.inventory import load_inventory
from agent.engine.run import run_deploy
from tests.oracle import assert_standin_untouched, run_beside_standin, write_standin_pyinfra


def _exec(source: str) -> dict:
    namespace = {"__builtins__": user_builtins(import_pyinfra), "__name__": "deploy"}
    exec(compile(source, "deploy.py", "exec"), namespace)
    return namespace


def test_deploy_imports_resolve_to_the_engine():
    ns = _exec(
        "from pyinfra import host, operations, facts\n"
        "from pyinfra.operations import apt, files, server\n"
        "from pyinfra.facts.files import File\n"
        "from pyinfra.facts.server import Os, Arch\n"
        "from pyinfra.operations.util import any_changed\n"
        "from pyinfra.api import operation, FactBase, StringCommand\n"
        "import pyinfra.operations.files\n"
        "import pyinfra\n"
        "packages = operations.apt.packages\n"
        "directory = pyinfra.operations.files.directory\n"
    )
    from agent.catalogue.facts import files as fact_files
    from agent.catalogue.operations import apt as op_apt
    from agent.catalogue.operations import files as op_files
    from agent.engine import context, fact, operation

    assert ns["host"] is context.host
    assert ns["File"] is fact_files.File
    assert ns["packages"] is op_apt.packages
    assert ns["directory"] is op_files.directory
    assert ns["operation"] is operation.operation
    assert ns["FactBase"] is fact.FactBase
    assert ns["any_changed"] is operation.any_changed
    assert ns["pyinfra"].__name__ == "agent.compat.pyinfra"


def test_the_engine_alone_maps_no_names(write, tmp_path):
    """The pyinfra mapping is the compat layer's: the engine's own entry points, given no
    importer, leave `pyinfra` to the normal import (which finds none in pullinfra's venv)."""
    inventory = write("inv.py", "from pyinfra import host\nweb = ['a']\n")
    with pytest.raises(InventoryError, match=r"ModuleNotFoundError.*pyinfra"):
        load_inventory(inventory)
    plain = write("plain.py", "hosts = ['@local']\n")
    deploy = write("deploy.py", "from pyinfra import host\n")
    with pytest.raises(DeployError, match=r"ModuleNotFoundError.*pyinfra"):
        run_deploy(plain, [deploy])


def test_the_engine_asks_the_importer_it_is_given(write, tmp_path, run_local):
    """RunOptions.importer reaches deploy files and the inventory; names it leaves alone
    import normally."""
    asked = []

    def importer(name, fromlist):
        asked.append(name)
        return import_pyinfra(name, fromlist)

    inventory = write("inv.py", "from pyinfra import host\nhosts = ['@local']\n")
    deploy = write("deploy.py", "import json\nfrom pyinfra.operations import server\n")
    result = run_local(inventory, deploy, importer=importer)
    assert not result.has_failures
    assert {"pyinfra", "pyinfra.operations", "json"} <= set(asked)


@pytest.mark.parametrize(
    "source",
    [
        "from pyinfra import operations\noperations.apt.nonexistent\n",
        "from pyinfra.operations.apt import nonexistent\n",
        "from pyinfra.facts.server import Nope\n",
        "import pyinfra.facts.nosuch\n",
        "from pyinfra import state\n",
    ],
)
def test_unknown_names_are_clear_errors(source):
    with pytest.raises(UnknownNameError, match="pullinfra"):
        _exec(source)


PROBE = """
import pyinfra
import pyinfra.operations.files
from pyinfra import host
from pyinfra.operations import files, server

probe = " ".join([
    pyinfra.__name__,
    type(host).__module__,
    files.__name__,
    pyinfra.operations.files.directory.__module__,
    server.shell.__module__,
])
server.shell(name="probe", commands=[f"echo {probe} > {host.data.out}"])
"""

ENGINE = ["agent.compat.pyinfra", "agent.engine.context", "agent.catalogue.operations.files",
          "agent.catalogue.operations.files._paths", "agent.catalogue.operations.server._shell"]


@pytest.mark.parametrize("when", ["after", "before"])
def test_real_pyinfra_is_untouched_outside_deploy_files(write, tmp_path, when):
    """A process that runs deploys and also uses pyinfra itself must keep its own `pyinfra`,
    whether it imported it before the run or only after: the loader maps deploy code's
    imports and never reads or writes sys.modules['pyinfra'].

    The process's pyinfra is a stand-in package, not the real one: pullinfra's venv must
    not hold real pyinfra (tests/oracle.py says why), and adding the oracle venv's
    site-packages to pullinfra's path would mix the two dependency sets again. The property
    is about import resolution and sys.modules, which any package named `pyinfra` shows;
    the stand-in also logs every import of it, so a run that touched it cannot hide that.
    """
    standin = write_standin_pyinfra(tmp_path / "standin")
    inventory = write("inv.py", f'local = [("@local", {{"out": "{tmp_path}/probe"}})]\n')
    deploy = write("deploy.py", PROBE)

    seen = run_beside_standin(standin, inventory, deploy, when=when, cwd=tmp_path)

    assert seen["failed"] == {} and seen["operations"] == ["probe"], seen
    assert (tmp_path / "probe").read_text().split() == ENGINE
    assert_standin_untouched(seen, standin, when)
