"""Fixtures for the agent's acceptance tests: a git remote, a report receiver, agents."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance_agent.harness import Agent, agent_config
from tests.agent.gitfixtures import Remote
from tests.agent.receivers import Receiver, free_port


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    """A bare repository reached over file:// plus a work clone that pushes to it."""
    return Remote(tmp_path / "git")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP receiver for change reports on 127.0.0.1, stopped at teardown."""
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def make_agent(tmp_path: Path) -> Iterator[Callable[..., Agent]]:
    """make_agent(url=..., name="agent", **agent_config options) -> Agent (not started).

    Every agent made here is stopped by pid at teardown (SIGTERM, then SIGKILL).
    """
    made: list[Agent] = []

    def make(*, url: str, name: str = "agent", **options: Any) -> Agent:
        workdir = tmp_path / name
        workdir.mkdir()
        config = agent_config(url=url, port=free_port(), state_dir=workdir / "state",
                              instance=name, **options)
        agent = Agent(workdir, config, name=name)
        made.append(agent)
        return agent

    yield make
    for agent in made:
        agent.cleanup()
