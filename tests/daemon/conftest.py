from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.config import load_config
from agent.daemon import Agent
from tests.agent.process import AgentProcess
from tests.daemon.helpers import Fleet, env


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    return Fleet(tmp_path)


@pytest.fixture
def make_agent() -> Iterator:
    """In-process agents (no scheduler, no HTTP unless started); stopped at the end."""
    made: list[Agent] = []

    def make(config: Path, **kwargs) -> Agent:
        agent = Agent(load_config(config, env={}), **kwargs)
        made.append(agent)
        return agent

    yield make
    for agent in made:
        if not agent._stopping.is_set():
            agent.stop(grace=10)


@pytest.fixture
def start_process(tmp_path: Path) -> Iterator:
    """start_process(config, log="agent.log"): `pullinfra agent` subprocesses logging into
    tmp_path; killed at the end, whatever the test did."""
    started: list[AgentProcess] = []

    def start(config: Path, log: str = "agent.log") -> AgentProcess:
        proc = AgentProcess(config, tmp_path / log, env=env())
        started.append(proc)
        return proc.start()

    yield start
    for proc in started:
        proc.kill()
