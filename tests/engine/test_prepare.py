"""Prepare-time rules: _if, results read too early, stale facts, unknown names, bad code."""

from __future__ import annotations

import pytest

from agent.engine.errors import DeployError, PrepareTimeResultError, UnknownNameError
from agent.engine.events import EngineWarning


@pytest.fixture
def one_host(write, tmp_path):
    return write("inv.py", f'h = [("h1", {{"log": "{tmp_path}/log"}})]\n')


def _statuses(result, host="h1"):
    return {op.name: op.status for op in result.host(host).operations}


def test_if_is_evaluated_at_execute_time(write, run_local, one_host, tmp_path):
    deploy = write(
        "deploy.py",
        f"""
        from pyinfra.operations.util import any_changed, all_changed
        from tests.engine.testops import touch, nothing, mark

        made = touch(name="made", path="{tmp_path}/f")
        idle = nothing(name="idle")
        mark(name="after-made", label="1", _if=made.did_change)
        mark(name="after-idle", label="2", _if=idle.did_change)
        mark(name="not-idle", label="3", _if=idle.did_not_change)
        mark(name="list-both", label="4", _if=[made.did_change, idle.did_change])
        mark(name="any", label="5", _if=any_changed(made, idle))
        mark(name="all", label="6", _if=all_changed(made, idle))
        mark(name="lambda", label="7", _if=lambda: made.did_succeed() and not idle.did_error())
        """,
    )
    result = run_local(one_host, deploy)
    assert _statuses(result) == {
        "made": "changed", "idle": "no_change", "after-made": "changed",
        "after-idle": "skipped", "not-idle": "changed", "list-both": "skipped",
        "any": "changed", "all": "skipped", "lambda": "changed",
    }
    assert (tmp_path / "log").read_text().split() == ["1", "3", "5", "7"]

    again = run_local(one_host, deploy)
    assert _statuses(again)["made"] == "no_change"
    assert _statuses(again)["after-made"] == "skipped"


@pytest.mark.parametrize("expression", ["made.changed", "made.did_change()"])
def test_reading_a_result_during_prepare_is_a_clear_error(
    write, run_local, one_host, tmp_path, expression
):
    deploy = write(
        "deploy.py",
        f"""
        from tests.engine.testops import touch, mark

        made = touch(name="made", path="{tmp_path}/f")
        if {expression}:
            mark(label="reload")
        """,
    )
    with pytest.raises(PrepareTimeResultError) as caught:
        run_local(one_host, deploy)
    assert caught.value.where == f"{deploy}:4"
    assert "_if=" in str(caught.value) and "did_change" in str(caught.value)
    assert not (tmp_path / "f").exists()


def test_non_immutable_fact_after_an_op_warns_with_the_line(write, run_local, one_host):
    deploy = write(
        "deploy.py",
        """
        from pyinfra import host
        from tests.engine.testops import Echo, FixedEcho, nothing

        assert host.get_fact(Echo, text="before") == "before"
        nothing()
        host.get_fact(FixedEcho, text="immutable")
        value = host.get_fact(Echo, text="after")
        assert value == "after"
        """,
    )
    events = []
    run_local(one_host, deploy, events=events)
    warnings = [e for e in events if isinstance(e, EngineWarning)]
    assert len(warnings) == 1
    assert warnings[0].location == f"{deploy}:7"
    assert "testops.Echo" in warnings[0].message and warnings[0].host == "h1"


@pytest.mark.parametrize(
    ("code", "line", "match"),
    [
        ("from pyinfra import operations\noperations.apt.nonexistent(packages=['x'])\n",
         2, "apt.nonexistent"),
        ("from pyinfra.operations import nosuchmodule\n", 1, "nosuchmodule"),
        ("from pyinfra.facts.server import Nope\n", 1, "server.Nope"),
        ("from pyinfra import host, facts\nhost.get_fact(facts.files.Nope, path='/')\n",
         2, "files.Nope"),
    ],
)
def test_unknown_operation_or_fact_fails_before_any_host_is_touched(
    write, run_local, tmp_path, code, line, match
):
    inventory = write("inv.py", "a = ['h1']\nb = ['h2']\n")
    deploy = write(
        "deploy.py",
        f"from tests.engine.testops import touch\ntouch(path='{tmp_path}/touched')\n" + code,
    )
    with pytest.raises(UnknownNameError, match=match) as caught:
        run_local(inventory, deploy)
    assert caught.value.where == f"{deploy}:{line + 2}"
    assert "not implemented by pullinfra" in str(caught.value)
    assert not (tmp_path / "touched").exists()


@pytest.mark.parametrize(
    ("code", "line", "match"),
    [
        ("x = 1\nif True\n    pass\n", 2, "syntax error"),
        ("x = 1\nundefined_thing()\n", 2, "NameError"),
        ("from tests.engine.testops import touch\ntouch(path='/x', wrong_arg=1)\n", 2, "wrong_arg"),
        ("from tests.engine.testops import touch\ntouch(path='/x', _if=True)\n", 2, "_if"),
    ],
)
def test_bad_deploy_code_names_file_and_line(write, run_local, tmp_path, code, line, match):
    inventory = write("inv.py", "a = ['h1']\n")
    ok = write("ok.py", f"from tests.engine.testops import touch\ntouch(path='{tmp_path}/t')\n")
    deploy = write("deploy.py", code)
    with pytest.raises(DeployError, match=match) as caught:
        run_local(inventory, ok, deploy)
    assert caught.value.where == f"{deploy}:{line}"
    assert not (tmp_path / "t").exists()


def test_execution_arguments_must_match_across_hosts(write, run_local, tmp_path):
    inventory = write("inv.py", "a = ['h1']\nb = ['h2']\n")
    deploy = write(
        "deploy.py",
        f"""
        from pyinfra import host
        from tests.engine.testops import mark
        mark(path="{tmp_path}/log", _serial="a" in host.groups)
        """,
    )
    with pytest.raises(DeployError, match="_serial"):
        run_local(inventory, deploy)


def test_host_name_groups_and_data_in_deploy_code(write, run_local, tmp_path):
    inventory = write("inv.py", 'web = [("w1", {"colour": "blue"})]\n')
    write("group_data/web.py", 'colour = "red"\nsize = 3\n')
    deploy = write(
        "deploy.py",
        f"""
        from pyinfra import host
        from tests.engine.testops import mark
        label = f"{{host.name}}:{{','.join(host.groups)}}:{{host.data.colour}}:{{host.data.size}}"
        mark(path="{tmp_path}/log", label=label + ":" + str(host.data.missing))
        """,
    )
    run_local(inventory, deploy, data={"size": "9"})
    assert (tmp_path / "log").read_text().strip() == "w1:web,all:blue:9:None"
