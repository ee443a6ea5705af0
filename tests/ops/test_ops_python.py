"""python.call and python.raise_exception: unit (what they yield) and run for real, on @local
and on bed hosts over SSH, through run_deploy."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.catalogue.operations import python
from agent.compat import run_deploy
from agent.engine.command import FunctionCommand
from agent.engine.context import bound_host
from agent.engine.errors import DeployError
from agent.engine.run import RunOptions
from agent.vocab import HostStatus, OpStatus
from tests.ops.conftest import FakeHost, local_deploy


def _commands(fake: FakeHost, op, *args, **kwargs) -> list:
    with bound_host(fake):  # type: ignore[arg-type]
        return list(op._inner(*args, **kwargs))


def test_call_yields_one_callback_with_its_arguments(fake: FakeHost) -> None:
    def hello(who, punct="!"):
        return f"hello {who}{punct}"

    [command] = _commands(fake, python.call, hello, "world", punct="?")
    assert isinstance(command, FunctionCommand)
    assert command.function(*command.args, **command.kwargs) == "hello world?"
    assert python.call.definition.is_idempotent is False


def test_raise_exception_yields_a_callback_that_raises_it(fake: FakeHost) -> None:
    [command] = _commands(fake, python.raise_exception, NotImplementedError, "not on BSD")
    with pytest.raises(NotImplementedError, match="not on BSD"):
        command.function(*command.args, **command.kwargs)


DEPLOY = """
from pyinfra import host
from pyinfra.operations import python, server

server.shell(name="make marker", commands=[f"echo made > {host.data.marker}"])

def read_marker(path, seen):
    # Runs at execute time: the shell operation before it has already run.
    seen.append((host.name, host.get_file(path).decode().strip()))
    return False  # pyinfra ignores the return value; so must we

python.call(name="read marker", function=read_marker, path=host.data.marker, seen=host.data.seen)

def fail_on(target):
    if host.name == target:
        raise RuntimeError(f"refusing {target}")

python.call(name="fail one", function=fail_on, target=host.data.fail_on)
server.shell(name="after", commands=["true"])
"""


def test_call_runs_at_execute_time_and_only_an_exception_fails_it(tmp_path: Path) -> None:
    seen: list[tuple[str, str]] = []
    (tmp_path / "deploy.py").write_text(DEPLOY)
    inventory = tmp_path / "inventory.py"
    inventory.write_text("hosts = ['@local']\n")
    result = run_deploy(
        str(inventory), [str(tmp_path / "deploy.py")],
        options=_options(str(tmp_path / "marker"), seen, fail_on="nobody"))
    ops = {op.name: op for op in result.host("@local").operations}
    assert seen == [("@local", "made")]
    assert ops["read marker"].status == OpStatus.CHANGED
    assert ops["fail one"].status == OpStatus.CHANGED
    assert ops["after"].status == OpStatus.CHANGED
    assert not result.has_failures


def _options(marker: str, seen: list, fail_on: str) -> RunOptions:
    return RunOptions(data={"marker": marker, "seen": seen, "fail_on": fail_on})


def test_an_exception_in_a_callback_fails_that_host_only(bed_hosts, bed_inventory,
                                                         tmp_path: Path) -> None:
    seen: list[tuple[str, str]] = []
    one, two = bed_hosts(2)
    inventory = bed_inventory({"one": one, "two": two})
    (tmp_path / "deploy.py").write_text(DEPLOY)
    result = run_deploy(str(inventory), [str(tmp_path / "deploy.py")],
                        options=_options("/root/marker", seen, fail_on="two"))
    assert sorted(seen) == [("one", "made"), ("two", "made")]
    assert result.host("one").status == HostStatus.CHANGED
    failed = result.host("two")
    assert failed.status == HostStatus.FAILED
    op = {o.name: o for o in failed.operations}["fail one"]
    assert op.status == OpStatus.FAILED
    assert "python callback raised RuntimeError: refusing two" in (op.error or "")
    assert "after" not in {o.name for o in failed.operations}
    assert {o.name: o.status for o in result.host("one").operations}["after"] == OpStatus.CHANGED


def test_raise_exception_fails_every_host_it_runs_on(tmp_path: Path) -> None:
    (tmp_path / "deploy.py").write_text(
        "from pyinfra.operations import python\n"
        "python.raise_exception(NotImplementedError, 'no support', name='stop here')\n")
    inventory = tmp_path / "inventory.py"
    inventory.write_text("hosts = ['@local']\n")
    result = run_deploy(str(inventory), [str(tmp_path / "deploy.py")])
    [op] = result.host("@local").operations
    assert op.status == OpStatus.FAILED
    assert op.error == "python callback raised NotImplementedError: no support"


def test_a_call_without_its_function_names_the_deploy_line(tmp_path: Path) -> None:
    inventory, deploys = local_deploy(
        tmp_path, "from pyinfra.operations import python\n\npython.call(name='nothing')\n")
    deploy = deploys[0]
    with pytest.raises(DeployError) as caught:
        run_deploy(inventory, deploys)
    assert caught.value.where == f"{deploy}:3"
    assert "function" in str(caught.value)


CALLBACK_SHELL = """
from pyinfra import host
from pyinfra.operations import python

def probe(seen):
    ok, out = host.run_shell_command("cat /etc/hostname; echo warn >&2", _env={"A": "1"})
    bad, err = host.run_shell_command(command="echo $A >&2; exit 3", _env={"A": "x"})
    seen.append((host.name, ok, out.stdout, out.stderr_lines, bad, err.stderr, err.output))

python.call(name="probe", function=probe, seen=host.data.seen)

def wrong():
    host.run_shell_command("true", _nonsense=1)

python.call(name="wrong", function=wrong)
"""


def test_a_callback_runs_commands_on_its_host_as_pyinfra_callbacks_do(
        bed_host, bed_inventory, tmp_path: Path) -> None:
    seen: list[tuple] = []
    (tmp_path / "deploy.py").write_text(CALLBACK_SHELL)
    result = run_deploy(str(bed_inventory({"one": bed_host})), [str(tmp_path / "deploy.py")],
                        options=RunOptions(data={"seen": seen}))
    assert seen == [("one", True, bed_host.hostname, ["warn"], False, "x", "x")]
    ops = {op.name: op for op in result.host("one").operations}
    assert ops["probe"].status == OpStatus.CHANGED
    assert ops["wrong"].status == OpStatus.FAILED
    assert "does not take _nonsense" in (ops["wrong"].error or "")
