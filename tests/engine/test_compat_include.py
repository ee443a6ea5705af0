"""`local.include`: included files' operations, identity, data, names and errors."""

from __future__ import annotations

import pytest

from agent.engine.errors import DeployError
from tests.engine.test_compat_real import pullinfra_order, real_pyinfra_order

TASK = """
from pyinfra import host
from pyinfra.operations import server

server.shell(name="task", commands=[f"echo task-{host.data.role} >> {host.data.log}"])
"""


def test_the_same_file_included_twice_is_two_operations(write, run_local, tmp_path):
    inventory = write(
        "inv.py",
        f'a = [("h1", {{"log": "{tmp_path}/h1.log", "role": "own"}})]\n'
        f'b = [("h2", {{"log": "{tmp_path}/h2.log"}})]\n',
    )
    write("tasks/task.py", TASK)
    deploy = write(
        "deploy.py",
        """
        from pyinfra import host, local
        from pyinfra.operations import server

        local.include("tasks/task.py", data={"role": "first"})
        if host.name == "h2":
            server.shell(name="between", commands=["true"])
        local.include("tasks/task.py", data={"role": "second"})
        """,
    )
    result = run_local(inventory, deploy)

    assert pullinfra_order(result) == real_pyinfra_order(tmp_path, inventory, deploy)
    assert [op.name for op in result.operations] == [
        "tasks/task.py | task", "between", "tasks/task.py | task",
    ]
    # include data is the lowest layer: the host's own `role` wins over it.
    assert (tmp_path / "h1.log").read_text().split() == ["task-own", "task-own"]
    assert (tmp_path / "h2.log").read_text().split() == ["task-first", "task-second"]


def test_include_paths_resolve_like_pyinfra(write, run_local, tmp_path):
    inventory = write("inv.py", f'a = [("h1", {{"log": "{tmp_path}/h1.log", "role": "r"}})]\n')
    write("tasks/task.py", TASK)
    write("deploys/here.py", TASK.replace("task-", "here-"))
    deploy = write(
        "deploys/web.py",
        """
        from pyinfra import local
        local.include("tasks/task.py")   # the project root, as pyinfra's working directory
        local.include("./here.py")       # beside this file
        """,
    )
    result = run_local(inventory, deploy)
    assert (tmp_path / "h1.log").read_text().split() == ["task-r", "here-r"]
    assert [op.name for op in result.operations] == [
        "tasks/task.py | task", "deploys/here.py | task",
    ]


def test_error_inside_an_included_file_names_its_line(write, run_local, tmp_path):
    inventory = write("inv.py", "a = ['h1']\n")
    task = write("tasks/bad.py", "x = 1\nundefined_name()\n")
    deploy = write("deploy.py", "from pyinfra import local\nlocal.include('tasks/bad.py')\n")
    with pytest.raises(DeployError, match="NameError") as caught:
        run_local(inventory, deploy)
    assert caught.value.where == f"{task}:2"


def test_missing_include_says_where_it_looked(write, run_local, tmp_path):
    inventory = write("inv.py", "a = ['h1']\n")
    deploy = write("deploy.py", "from pyinfra import local\n\nlocal.include('tasks/none.py')\n")
    with pytest.raises(DeployError, match=r"tasks/none\.py not found") as caught:
        run_local(inventory, deploy)
    assert caught.value.where == f"{deploy}:3"
    assert str(tmp_path / "tasks" / "none.py") in str(caught.value)


def test_config_changes_inside_an_include_do_not_leak_out(write, run_local, tmp_path):
    inventory = write("inv.py", f'a = [("h1", {{"log": "{tmp_path}/h1.log"}})]\n')
    write(
        "tasks/env.py",
        """
        from pyinfra import config, host
        from pyinfra.operations import server
        config.ENV = {"WHO": "inside"}
        server.shell(name="inside", commands=[f"echo in-$WHO >> {host.data.log}"])
        """,
    )
    deploy = write(
        "deploy.py",
        """
        from pyinfra import host, local
        from pyinfra.operations import server
        local.include("tasks/env.py")
        server.shell(name="after", commands=[f"echo after-$WHO >> {host.data.log}"])
        """,
    )
    run_local(inventory, deploy)
    assert (tmp_path / "h1.log").read_text().split() == ["in-inside", "after-"]
