"""agent/engine/adhoc.py: one command on some hosts of an inventory, here the local
connector's real /bin/sh (bed hosts over SSH: tests/daemon/test_gates.py)."""

from __future__ import annotations

from agent.engine.adhoc import HostCommandResult, run_command_on_hosts
from agent.engine.inventory import Inventory, InventoryHost

SECRET = "hunter2-db-password"


def _inventory() -> Inventory:
    hosts = tuple(InventoryHost(name, (), {"db_password": SECRET}, "local", "test")
                  for name in ("one", "two"))
    return Inventory("inventory.py", hosts)


def test_every_host_answers_with_its_exit_code_and_masked_output() -> None:
    results = run_command_on_hosts(
        _inventory(), ["one", "two"], f"echo out {SECRET}; echo err {SECRET} >&2; exit 4")
    assert list(results) == ["one", "two"]
    assert results["one"] == HostCommandResult("one", 4, ("out ***",), ("err ***",))
    assert not results["one"].ok


def test_a_timeout_or_an_unknown_host_is_a_result_not_an_exception() -> None:
    results = run_command_on_hosts(_inventory(), ["one", "nowhere"], "sleep 20", timeout=0.5)
    assert results["one"] == HostCommandResult("one", None, error="timed out after 0.5s")
    assert results["nowhere"] == HostCommandResult("nowhere", None,
                                                   error="not in the inventory")
    assert run_command_on_hosts(_inventory(), [], "true") == {}
