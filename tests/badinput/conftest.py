"""One long-lived agent watching a real git remote, with two bed hosts, for every case that
arrives as a commit (inventory, deploy, repository) or a request (payloads)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.acceptance_agent.harness import Agent, agent_config
from tests.agent.gitfixtures import Remote
from tests.agent.receivers import free_port
from tests.badinput.corpus import GOOD_FILE, MARKER
from tests.badinput.repository import good_tree, push_tree
from tests.conftest import bed_unavailable
from tests.testbed import BedError, Host


@dataclass
class Watched:
    agent: Agent
    remote: Remote
    hosts: list[Host]
    good: str
    """The good commit's SHA."""
    outside: Path
    """A directory outside the repository, for symlinks to point at."""

    def markers(self) -> list[str]:
        """The hosts where something applied; the marker is removed, so that one case's
        failure does not become the next one's."""
        found = [h.name for h in self.hosts if h.exists(MARKER)]
        for host in self.hosts:
            host.run(f"rm -f {MARKER}", check=True)
        return found

    def good_mtimes(self) -> dict[str, int | None]:
        return {h.name: getattr(h.stat(GOOD_FILE), "st_mtime_ns", None) for h in self.hosts}


@pytest.fixture(scope="package")
def watched(bed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Watched]:
    """The agent has applied the good commit to both hosts before any case starts."""
    try:
        hosts = bed.pristine_hosts(2)
    except BedError as exc:
        bed_unavailable(str(exc))
    for host in hosts:  # a bed can outlive a session; pristine means never handed out here
        host.run(f"rm -f {MARKER}", check=True)
    tmp = tmp_path_factory.mktemp("badinput")
    remote = Remote(tmp / "git")
    good = push_tree(remote, good_tree(hosts), "good")
    workdir = tmp / "agent"
    workdir.mkdir()
    outside = tmp / "outside"
    outside.mkdir()
    agent = Agent(workdir, agent_config(url=remote.url, port=free_port(),
                                        state_dir=workdir / "state"))
    agent.start()
    try:
        agent.wait_ready()
        run = agent.wait_finished(good, timeout=120)
        assert run["status"] == "changed", agent.describe()
        yield Watched(agent, remote, hosts, good, outside)
    finally:
        agent.cleanup()
