"""Repository helper modules imported by deploy code: pullinfra's pyinfra, user call sites,
and per-run isolation (see the DeployCode docstring in agent/engine/loader.py)."""

from __future__ import annotations

import sys
import threading

import pytest

from agent.engine.errors import DeployError
from tests.engine.test_compat_real import pullinfra_order, real_pyinfra_order
from tests.oracle import assert_standin_untouched, run_beside_standin, write_standin_pyinfra

HELPERS = """
from pyinfra import host
from pyinfra.operations import server

def setup_users(tag):
    server.shell(name=f"users-{tag}", commands=[f"echo {tag}-{__name__} >> {host.data.log}"])
"""


def test_helper_module_gets_pullinfra_and_its_lines_count(write, run_local, tmp_path):
    inventory = write("inv.py", f'a = [("h1", {{"log": "{tmp_path}/h1.log"}})]\n')
    write("lib/helpers.py", HELPERS)
    deploy = write(
        "deploy.py",
        """
        from lib.helpers import setup_users
        import lib.helpers

        setup_users("one")
        lib.helpers.setup_users("two")
        """,
    )
    result = run_local(inventory, deploy)

    assert [op.name for op in result.operations] == ["users-one", "users-two"]
    assert (tmp_path / "h1.log").read_text().split() == ["one-lib.helpers", "two-lib.helpers"]
    assert pullinfra_order(result) == real_pyinfra_order(tmp_path, inventory, deploy)
    assert "lib.helpers" not in sys.modules and "lib" not in sys.modules


def test_error_in_a_helper_names_the_helper_line(write, run_local, tmp_path):
    inventory = write("inv.py", "a = ['h1']\n")
    helper = write(
        "lib/helpers.py",
        """
        from pyinfra.operations import server

        def broken():
            server.shell(commands=["true"], wrong=1)
        """,
    )
    deploy = write("deploy.py", "from lib.helpers import broken\nbroken()\n")
    with pytest.raises(DeployError, match="wrong") as caught:
        run_local(inventory, deploy)
    assert caught.value.where == f"{helper}:4"


def test_unknown_operation_in_a_helper_is_a_clear_error(write, run_local, tmp_path):
    inventory = write("inv.py", "a = ['h1']\n")
    helper = write("lib/helpers.py", "from pyinfra.operations.server import nope\n")
    deploy = write("deploy.py", "import lib.helpers\n")
    with pytest.raises(DeployError, match=r"server\.nope is not implemented") as caught:
        run_local(inventory, deploy)
    assert caught.value.where == f"{helper}:1"


def test_packages_relative_imports_and_namespace_dirs(write, run_local, tmp_path):
    inventory = write("inv.py", f'a = [("h1", {{"log": "{tmp_path}/h1.log"}})]\n')
    write("roles/__init__.py", "from .web import install\n")
    write(
        "roles/web.py",
        """
        from . import names
        from pyinfra import host
        from pyinfra.operations import server

        def install():
            server.shell(name=names.WEB, commands=[f"echo web >> {host.data.log}"])
        """,
    )
    write("roles/names.py", "WEB = 'install web'\n")
    write("shared/values.py", "LABEL = 'shared'\n")  # a namespace package (no __init__)
    write("json/README", "a data directory must not shadow the json module\n")
    deploy = write(
        "deploy.py",
        """
        import json
        from roles import install
        from shared.values import LABEL
        from pyinfra.operations import server

        install()
        server.shell(name=LABEL, commands=[json.dumps("true").strip('"')])
        """,
    )
    result = run_local(inventory, deploy)
    assert [op.name for op in result.operations] == ["install web", "shared"]
    assert not result.has_failures


def test_missing_helper_module_is_a_located_error(write, run_local, tmp_path):
    inventory = write("inv.py", "a = ['h1']\n")
    write("lib/__init__.py", "")
    deploy = write("deploy.py", "x = 1\nfrom lib.nothere import thing\n")
    with pytest.raises(DeployError, match=r"No module named 'lib\.nothere'") as caught:
        run_local(inventory, deploy)
    assert caught.value.where == f"{deploy}:2"


@pytest.mark.parametrize("when", ["after", "before"])
def test_real_pyinfra_stays_real_for_the_rest_of_the_process(write, tmp_path, when):
    """A helper module's `import pyinfra` is pullinfra's, and it must not leak into the
    process: its own `import pyinfra`, before or after the run, keeps its own pyinfra.

    That pyinfra is a stand-in package in a subprocess, since pullinfra's venv must not hold
    real pyinfra (see test_real_pyinfra_is_untouched_outside_deploy_files for why that is
    still a proof).
    """
    standin = write_standin_pyinfra(tmp_path / "standin")
    inventory = write("inv.py", "local = ['@local']\n")
    write("lib/helpers.py", "import pyinfra\nKIND = pyinfra.__name__\n")
    deploy = write(
        "deploy.py", "from lib.helpers import KIND\nassert KIND == 'agent.compat.pyinfra'\n"
    )
    seen = run_beside_standin(standin, inventory, deploy, when=when, cwd=tmp_path)
    assert seen["failed"] == {}, seen
    assert_standin_untouched(seen, standin, when)


def test_two_runs_at_once_each_see_their_own_helpers(tmp_path, run_local):
    """Two checkouts with a different lib/helpers.py, prepared at the same moment."""
    barrier = threading.Barrier(2, timeout=30)
    results: dict[str, object] = {}

    def project(tag: str):
        root = tmp_path / tag
        (root / "lib").mkdir(parents=True)
        (root / "lib" / "helpers.py").write_text(
            "from pyinfra import host\n"
            "from pyinfra.operations import server\n"
            f"TAG = {tag!r}\n"
            "def setup(barrier):\n"
            "    barrier.wait()\n"  # both runs are inside their own helper module now
            "    server.shell(name=f'from-{TAG}', commands=[f'echo {TAG} >> {host.data.log}'])\n"
        )
        (root / "inv.py").write_text(f'a = [("h-{tag}", {{"log": "{root}/out.log"}})]\n')
        (root / "deploy.py").write_text(
            "from lib.helpers import setup\n"
            "from tests.engine.test_compat_helpers import BARRIERS\n"
            f"setup(BARRIERS[{tag!r}])\n"
        )
        return root

    roots = {tag: project(tag) for tag in ("red", "blue")}
    BARRIERS.update({tag: barrier for tag in roots})

    def go(tag: str) -> None:
        try:
            results[tag] = run_local(roots[tag] / "inv.py", roots[tag] / "deploy.py")
        except Exception as exc:  # reported by the assertion below
            results[tag] = exc

    threads = [threading.Thread(target=go, args=(tag,)) for tag in roots]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for tag, root in roots.items():
        result = results[tag]
        assert not isinstance(result, Exception), result
        assert [op.name for op in result.operations] == [f"from-{tag}"]
        assert (root / "out.log").read_text().split() == [tag]


BARRIERS: dict[str, threading.Barrier] = {}
