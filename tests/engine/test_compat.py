"""Deploy files get this engine for `pyinfra...`; everyone else keeps the real pyinfra."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from agent.compat.importer import deploy_builtins
from agent.engine.errors import UnknownNameError

REAL_PYINFRA = importlib.util.find_spec("pyinfra") is not None


def _exec(source: str) -> dict:
    namespace = {"__builtins__": deploy_builtins(), "__name__": "deploy"}
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
    from agent.engine import context, facts, operation
    from agent.engine.facts import files as fact_files
    from agent.engine.operations import apt as op_apt
    from agent.engine.operations import files as op_files

    assert ns["host"] is context.host
    assert ns["File"] is fact_files.File
    assert ns["packages"] is op_apt.packages
    assert ns["directory"] is op_files.directory
    assert ns["operation"] is operation.operation
    assert ns["FactBase"] is facts.base.FactBase
    assert ns["any_changed"] is operation.any_changed
    assert ns["pyinfra"].__name__ == "agent.compat.pyinfra"


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


@pytest.mark.skipif(not REAL_PYINFRA, reason="real pyinfra is not installed")
def test_real_pyinfra_is_untouched_outside_deploy_files():
    _exec("import pyinfra\nfrom pyinfra.operations import files\n")
    import pyinfra
    from pyinfra.operations import files

    assert "site-packages" in pyinfra.__file__
    assert files.__name__ == "pyinfra.operations.files"
    assert sys.modules["pyinfra"] is pyinfra
