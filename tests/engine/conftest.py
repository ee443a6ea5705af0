"""Helpers for engine tests: run deploys with local connectors (`write` is in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.compat import run_deploy
from agent.engine.connectors.local import LocalConnector
from agent.engine.events import Event
from agent.engine.run import RunOptions


@pytest.fixture
def run_local(tmp_path: Path):
    """Run a deploy where every inventory host is reached with the local connector."""

    def run(inventory: Path, *deploys: Path, events: list[Event] | None = None, **options):
        options.setdefault("connector_factory", lambda spec: LocalConnector())
        collected = events if events is not None else []
        return run_deploy(inventory, list(deploys), RunOptions(**options), collected.append)

    return run
