"""Bad config files: `pullinfra agent --config BAD` exits 2 with a clear message and no
traceback, and a running agent sent SIGHUP with the same file keeps its old config, healthy.

Cases: cases/config/<name>/config.toml with expected.toml (tests/badinput/corpus.py).
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.acceptance_agent.harness import Agent, clean_env
from tests.agent.gitfixtures import Remote
from tests.agent.process import PULLINFRA
from tests.badinput.agents import agent_applying
from tests.badinput.corpus import Case, assert_clear, params

REFUSED = "reload refused"


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    """One agent for every case: it applies a commit with nothing to do on @local."""
    tmp = tmp_path_factory.mktemp("config-agent")
    remote = Remote(tmp / "git")
    head = remote.commit_and_push({"inventory.py": 'hosts = ["@local"]\n',
                                   "deploy.py": "# nothing to change\n"}, "nothing")
    with agent_applying(tmp, remote, head) as agent:
        yield agent


@pytest.mark.parametrize("case", params("config"))
def test_agent_refuses_bad_config_with_a_clear_message(case: Case, tmp_path: Path) -> None:
    config = case.directory / "config.toml"
    done = subprocess.run([str(PULLINFRA), "agent", "--config", str(config)], cwd=tmp_path,
                          env=clean_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert_clear(done.stderr, case.expected)
    assert done.stdout == ""


@pytest.mark.parametrize("case", params("config"))
def test_reload_with_bad_config_keeps_the_old_one(case: Case, running: Agent) -> None:
    good = running.config_path.read_bytes()
    refused_before = running.log().count(REFUSED)
    runs_before = len(running.runs())
    running.config_path.write_bytes((case.directory / "config.toml").read_bytes())
    try:
        running.signal(signal.SIGHUP)
        running.wait_for(REFUSED, timeout=60, count=refused_before + 1)
    finally:
        running.config_path.write_bytes(good)
    said = running.log().split(REFUSED)[-1].split("\n", 1)[0]
    where = case.expected["where"].replace("config.toml", running.config_path.name)
    assert_clear(said.replace('\\"', '"'), case.expected, where=where)
    # Still running, healthy, on the old config: the old token still opens the API.
    assert running.running()
    assert running.healthz() == 200
    assert len(running.runs()) == runs_before  # a refused reload starts nothing
