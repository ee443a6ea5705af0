"""One shell command on some hosts of an inventory, outside any deploy.

Health checks (the daemon's command gates) need exit codes and output from hosts the run
just changed, with the same connection data, host keys and secrets rules as the run, but no
operations, facts or change detection; so this opens its own connections through the same
connectors (`run.default_connector`) instead of reaching into a run. Everything it returns is
masked with the secrets of every host of the inventory, as a run's output is
(docs/architecture.md, "Host keys" and the secrets paragraph).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from agent.engine.command import StringCommand
from agent.engine.connectors.base import (
    CommandArgs,
    CommandTimeout,
    ConnectError,
    ConnectionLost,
    Connector,
)
from agent.engine.connectors.host_keys import PYINFRA, HostKeyPolicy
from agent.engine.connectors.key_files import KeyFiles
from agent.engine.inventory import Inventory, InventoryHost
from agent.engine.masking import Masker
from agent.engine.run import DEFAULT_PARALLEL, default_connector


@dataclass(frozen=True)
class HostCommandResult:
    """What one host answered; `exit_code` is None when the command never finished there."""

    host: str
    exit_code: int | None
    stdout: tuple[str, ...] = ()
    stderr: tuple[str, ...] = ()
    error: str | None = None  # why there is no exit code: not reached, timed out, lost

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def inventory_masker(inventory: Inventory) -> Masker:
    """One masker for all hosts, as a run has: a command on one host may print another's
    secret."""
    return Masker(inventory.secrets)


def run_command_on_hosts(
    inventory: Inventory,
    hosts: Sequence[str],
    command: str,
    timeout: float | None = None,
    host_keys: HostKeyPolicy = PYINFRA,
    parallel: int | None = None,
    connector_factory: Callable[[InventoryHost], Connector] | None = None,
) -> dict[str, HostCommandResult]:
    """Run `command` with /bin/sh on each named host at once; a result for every name, in
    the order given. A host that cannot be reached, runs over `timeout` or drops the
    connection gets an `error` instead of an exit code; nothing is raised for a host."""
    masker = inventory_masker(inventory)
    factory = connector_factory or functools.partial(
        default_connector, key_files=KeyFiles(), host_keys=host_keys
    )
    run_one = functools.partial(_run_on_host, inventory=inventory, command=command,
                                timeout=timeout, factory=factory, masker=masker)
    if not hosts:
        return {}
    workers = max(1, min(parallel or DEFAULT_PARALLEL, len(hosts)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pullinfra-adhoc") as pool:
        results = list(pool.map(run_one, hosts))
    return {result.host: result for result in results}


def _run_on_host(
    name: str,
    inventory: Inventory,
    command: str,
    timeout: float | None,
    factory: Callable[[InventoryHost], Connector],
    masker: Masker,
) -> HostCommandResult:
    try:
        spec = inventory.get(name)
    except KeyError:
        return HostCommandResult(name, None, error="not in the inventory")
    connector = factory(spec)
    try:
        connector.connect()
    except ConnectError as exc:
        return HostCommandResult(name, None, error=masker(f"unreachable: {exc}"))
    except Exception as exc:  # a connector bug must not take the other hosts with it
        return HostCommandResult(name, None, error=masker(f"unreachable: {exc!r}"))
    try:
        output = connector.run_shell_command(StringCommand(command), CommandArgs(timeout=timeout))
    except CommandTimeout:
        return HostCommandResult(name, None, error=f"timed out after {timeout:g}s")
    except ConnectionLost as exc:
        return HostCommandResult(name, None, error=masker(str(exc)))
    except Exception as exc:
        return HostCommandResult(name, None, error=masker(f"{type(exc).__name__}: {exc}"))
    finally:
        # The answer is in; a failed goodbye changes nothing.
        with contextlib.suppress(Exception):
            connector.disconnect()
    return HostCommandResult(
        name,
        output.exit_code,
        tuple(masker(line) for line in output.stdout),
        tuple(masker(line) for line in output.stderr),
    )
