"""Smaller pyinfra 3 APIs deploys use: get_fact positionals, config, inventory, host data,
local.shell, and clear errors for what pullinfra does not implement."""

from __future__ import annotations

import pytest

from agent.engine.errors import DeployError


@pytest.fixture
def inventory(write, tmp_path):
    return write(
        "inv.py",
        f"""
        web = [("web-01", {{"log": "{tmp_path}/web-01.log", "ip": "10.0.0.1"}}),
               ("web-02", {{"log": "{tmp_path}/web-02.log", "ip": "10.0.0.2"}})]
        db = ([("db-01", {{"log": "{tmp_path}/db-01.log"}})], {{"engine": "pg"}})
        """,
    )


def _log(tmp_path, name="web-01"):
    return (tmp_path / f"{name}.log").read_text().split()


def test_get_fact_takes_positional_arguments_like_pyinfra(write, run_local, inventory, tmp_path):
    (tmp_path / "present").write_text("x")
    deploy = write(
        "deploy.py",
        f"""
        from pyinfra import host
        from pyinfra.facts.files import File
        from pyinfra.facts.server import Command
        from pyinfra.operations import server

        by_position = host.get_fact(File, "{tmp_path}/present")
        by_name = host.get_fact(File, path="{tmp_path}/present")
        missing = host.get_fact(File, "{tmp_path}/absent")
        said = host.get_fact(Command, "echo hello")
        assert by_position == by_name and by_position["size"] == 1, by_position
        server.shell(name="r", commands=[f"echo {{missing}}-{{said}} >> {{host.data.log}}"])
        """,
    )
    run_local(inventory, deploy, limit=["web-01"])
    assert _log(tmp_path) == ["None-hello"]


def test_get_fact_with_too_many_positionals_is_located(write, run_local, inventory):
    deploy = write(
        "deploy.py",
        "from pyinfra import host\nfrom pyinfra.facts.files import File\n"
        "host.get_fact(File, '/a', '/b')\n",
    )
    with pytest.raises(DeployError, match=r"host.get_fact\(files.File") as caught:
        run_local(inventory, deploy)
    assert caught.value.where == f"{deploy}:3"


def test_config_file_and_deploy_config(write, run_local, inventory, tmp_path):
    write("config.py", "from pyinfra import config\nconfig.SHELL = 'bash'\n")
    first = write(
        "first.py",
        """
        from pyinfra import config, host
        from pyinfra.operations import server
        config.IGNORE_ERRORS = True
        config.ENV = {"WHO": "first"}
        server.shell(name="fails", commands=["false"])
        server.shell(name="shell", commands=[f"echo $0-$WHO >> {host.data.log}"])
        """,
    )
    second = write(
        "second.py",
        """
        from pyinfra import config, host
        from pyinfra.operations import server
        assert config.IGNORE_ERRORS is False and config.SHELL == "bash"
        server.shell(name="second", commands=[f"echo $0-$WHO >> {host.data.log}"])
        """,
    )
    result = run_local(inventory, first, second, limit=["web-01"])
    assert _log(tmp_path) == ["bash-first", "bash-"]
    assert result.hosts[0].operations[0].ignored


def test_privilege_config_applies_to_later_operations(write, run_local, inventory):
    # doas is not installed here: the operation failing with 127 shows config.DOAS wrapped it.
    deploy = write(
        "deploy.py",
        "from pyinfra import config\nfrom pyinfra.operations import server\n"
        "config.DOAS = True\nserver.shell(name='as doas', commands=['true'])\n",
    )
    result = run_local(inventory, deploy, limit=["web-01"])
    assert result.hosts[0].operations[0].exit_code == 127


def test_inventory_and_host_data_views(write, run_local, inventory, tmp_path):
    deploy = write(
        "deploy.py",
        """
        from pyinfra import host, inventory
        from pyinfra.operations import server

        ips = ",".join(h.data.ip for h in inventory.get_group("web"))
        db = inventory.get_host("db-01")
        assert inventory.get_group("nope", default=[]) == []
        assert len(inventory) == 3 and [h.name for h in inventory][0] == "web-01"
        own = "+".join(sorted(host.host_data))
        label = f"{ips}/{db.data.engine}/{own}/{host.group_data.get('engine')}"
        server.shell(name="r", commands=[f"echo {label} >> {host.data.log}"])
        """,
    )
    run_local(inventory, deploy)
    assert _log(tmp_path) == ["10.0.0.1,10.0.0.2/pg/ip+log/None"]
    assert _log(tmp_path, "db-01") == ["10.0.0.1,10.0.0.2/pg/log/pg"]


def test_local_shell_runs_in_the_project_root(write, run_local, inventory, tmp_path):
    deploy = write(
        "deploy.py",
        """
        from pyinfra import host, local
        from pyinfra.operations import server
        where = local.shell("basename $PWD")
        server.shell(name="r", commands=[f"echo {where} >> {host.data.log}"])
        """,
    )
    run_local(inventory, deploy, limit=["web-01"])
    assert _log(tmp_path) == [tmp_path.name]


@pytest.mark.parametrize(
    ("code", "match"),
    [
        ("from pyinfra import host\nhost.fact.os\n", "host.fact is not implemented by pullinfra"),
        ("from pyinfra import inventory\ninventory.get_groups_data\n",
         "inventory.get_groups_data is not implemented by pullinfra"),
        ("from pyinfra import inventory\ninventory.get_group('nope')\n",
         "inventory has no group 'nope'"),
        ("from pyinfra import state\nstate.x\n", "pyinfra.state is not implemented by pullinfra"),
        ("import pyinfra\npyinfra.state\n", "pyinfra.state is not implemented by pullinfra"),
    ],
)
def test_unimplemented_names_are_located_errors(write, run_local, inventory, code, match):
    deploy = write("deploy.py", "x = 1\n" + code)
    with pytest.raises(DeployError, match=match) as caught:
        run_local(inventory, deploy)
    assert caught.value.where in (f"{deploy}:2", f"{deploy}:3")
