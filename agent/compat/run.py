"""The engine's entry points with pyinfra's names mapped, for files written for pyinfra.

The engine maps no names itself (`agent.engine.imports`); these pass it `import_pyinfra`,
so deploy, inventory and group-data files may `from pyinfra import host` as they do under
pyinfra. Every caller that runs users' deploys (the CLI, the daemon) goes through here.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from agent.compat.importer import import_pyinfra
from agent.engine import inventory as engine_inventory
from agent.engine import run as engine_run
from agent.engine.events import EventCallback
from agent.engine.inventory import Inventory
from agent.engine.result import RunResult
from agent.engine.run import RunOptions


def load_inventory(
    path: str | os.PathLike[str],
    data_overrides: Mapping[str, Any] | None = None,
    limit: Iterable[str] | None = None,
    root: str | os.PathLike[str] | None = None,
) -> Inventory:
    """`agent.engine.inventory.load_inventory`, where the files may import `pyinfra`."""
    return engine_inventory.load_inventory(path, data_overrides, limit, import_pyinfra, root)


def run_deploy(
    inventory: Inventory | str | os.PathLike[str],
    deploy_files: Sequence[str | os.PathLike[str]],
    options: RunOptions | None = None,
    on_event: EventCallback | None = None,
) -> RunResult:
    """`agent.engine.run.run_deploy`, where user code may import `pyinfra`.

    An importer already in `options` is kept: a caller that maps more names gives its own.
    The caller's `options` object is not changed.
    """
    options = options or RunOptions()
    if options.importer is None:
        options = dataclasses.replace(options, importer=import_pyinfra)
    return engine_run.run_deploy(inventory, deploy_files, options, on_event)
