"""Helpers for engine tests: write deploy/inventory files, run with local connectors."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.engine.connectors.local import LocalConnector
from agent.engine.events import Event
from agent.engine.run import RunOptions, run_deploy


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    def write_file(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    return write_file


@pytest.fixture
def run_local(tmp_path: Path):
    """Run a deploy where every inventory host is reached with the local connector."""

    def run(inventory: Path, *deploys: Path, events: list[Event] | None = None, **options):
        options.setdefault("connector_factory", lambda spec: LocalConnector())
        collected = events if events is not None else []
        return run_deploy(inventory, list(deploys), RunOptions(**options), collected.append)

    return run
