"""`host.when`, `host.arguments` and `@deploy`: what they add to the operations inside."""

from __future__ import annotations

import pytest

from agent.engine.errors import DeployError


@pytest.fixture
def one_host(write, tmp_path):
    return write("inv.py", f'a = [("h1", {{"log": "{tmp_path}/h1.log", "port": 8080}})]\n')


def _log(tmp_path):
    return (tmp_path / "h1.log").read_text().split()


def test_nested_when_conditions_all_have_to_hold(write, run_local, one_host, tmp_path):
    deploy = write(
        "deploy.py",
        """
        from pyinfra import host
        from pyinfra.operations import server
        from pyinfra.operations.util import any_changed

        def mark(name, **kwargs):
            return server.shell(name=name, commands=[f"echo {name} >> {host.data.log}"], **kwargs)

        yes = mark("yes")
        no = server.shell(name="no", commands=["true"], _if=lambda: False)
        with host.when(yes.did_change):
            mark("outer")
            with host.when(no.did_change):
                mark("both")
            mark("own-if-adds", _if=no.did_change)
            mark("own-if-true", _if=any_changed(yes, no))
        mark("after")
        """,
    )
    result = run_local(one_host, deploy)
    assert _log(tmp_path) == ["yes", "outer", "own-if-true", "after"]
    statuses = {op.name: op.status for op in result.hosts[0].operations}
    assert statuses["both"] == statuses["own-if-adds"] == "skipped"


def test_arguments_apply_to_operations_and_facts_in_the_block(
    write, run_local, one_host, tmp_path
):
    (tmp_path / "sub").mkdir()
    deploy = write(
        "deploy.py",
        f"""
        from pyinfra import host
        from pyinfra.facts.server import Command
        from pyinfra.operations import server

        with host.arguments(_chdir="{tmp_path}/sub", _env={{"WHO": "block"}}):
            server.shell(name="pwd", commands=[f"echo $(basename $PWD)-$WHO >> {{host.data.log}}"])
            seen = host.get_fact(Command, "basename $PWD")
            with host.when(lambda: True):
                server.shell(name="kept", commands=[f"echo kept-$WHO >> {{host.data.log}}"])
            server.shell(name="own", commands=[f"echo own-$WHO >> {{host.data.log}}"],
                         _env={{"WHO": "op"}})
        server.shell(name="out", commands=[f"echo {{seen}}-out-$WHO >> {{host.data.log}}"])
        """,
    )
    run_local(one_host, deploy)
    assert _log(tmp_path) == ["sub-block", "kept-block", "own-op", "sub-out-"]


def test_arguments_rejects_names_that_are_not_global_arguments(write, run_local, one_host):
    deploy = write(
        "deploy.py", "from pyinfra import host\n\nwith host.arguments(sudo=True):\n    pass\n"
    )
    with pytest.raises(DeployError, match="sudo, which are not global arguments") as caught:
        run_local(one_host, deploy)
    assert caught.value.where == f"{deploy}:3"


DEPLOYS = """
from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import server

def mark(name, label):
    return server.shell(name=name, commands=[f"echo {label} >> {host.data.log}"])

@deploy("Web", data_defaults={"port": 80, "user": "www"})
def web(tag):
    mark("web", f"{tag}-{host.data.port}-{host.data.user}")
    inner()

@deploy("Inner", data_defaults={"user": "inner"})
def inner():
    mark("inner", f"inner-{host.data.port}-{host.data.user}")
    with host.when(lambda: True):
        mark("when", "when")

@deploy
def bare():
    mark("bare", "bare")

web("a")
web("b", _if=lambda: False)
web("c", _env={"X": "1"}, _ignore_errors=True)
bare()
"""


def test_deploy_names_data_defaults_and_call_arguments(write, run_local, one_host, tmp_path):
    deploy = write("deploy.py", DEPLOYS)
    result = run_local(one_host, deploy)

    names = [op.name for op in result.operations]
    assert names == [
        "Web | web", "Web | Inner | inner", "Web | Inner | when",
        "Web | web", "Web | Inner | inner", "Web | Inner | when",
        "Web | web", "Web | Inner | inner", "Web | Inner | when",
        "bare | bare",
    ]
    # host data (port=8080) beats data_defaults; the inner deploy's defaults beat the outer's.
    assert _log(tmp_path) == [
        "a-8080-www", "inner-8080-inner", "when",
        "c-8080-www", "inner-8080-inner", "when",
        "bare",
    ]
    ops = result.hosts[0].operations
    assert [op.status for op in ops[3:6]] == ["skipped"] * 3


def test_data_defaults_are_seen_by_operations_at_execute_time(write, run_local, one_host, tmp_path):
    write(
        "myops.py",
        """
        from pyinfra import host
        from pyinfra.api import operation

        @operation()
        def record():
            yield f"echo {host.data.colour} >> {host.data.log}"
        """,
    )
    deploy = write(
        "deploy.py",
        """
        from pyinfra.api import deploy
        from myops import record

        @deploy("Paint", data_defaults={"colour": "blue"})
        def paint():
            record()

        paint()
        record()
        """,
    )
    run_local(one_host, deploy)
    assert _log(tmp_path) == ["blue", "None"]
