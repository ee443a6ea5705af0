"""The long-lived agents of the corpus: started once, stopped by pid at teardown."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.acceptance_agent.harness import Agent, agent_config
from tests.agent.gitfixtures import Remote
from tests.agent.receivers import free_port
from tests.badinput.corpus import GOOD_FILE, MARKER
from tests.testbed import Host


@contextlib.contextmanager
def agent_applying(tmp: Path, remote: Remote, head: str) -> Iterator[Agent]:
    """An agent watching `remote` that has finished its run of `head`."""
    workdir = tmp / "agent"
    workdir.mkdir()
    agent = Agent(workdir, agent_config(url=remote.url, port=free_port(),
                                        state_dir=workdir / "state"))
    agent.start()
    try:
        agent.wait_ready()
        run = agent.wait_finished(head, timeout=120)
        assert run["status"] in {"changed", "unchanged"}, agent.describe()
        yield agent
    finally:
        agent.cleanup()


@dataclass
class Watched:
    agent: Agent
    remote: Remote
    hosts: list[Host]
    outside: Path
    """A directory outside the repository, for symlinks to point at."""

    def markers(self) -> list[str]:
        """The hosts where something applied; the marker is removed, so that one case's
        failure does not become the next one's."""
        found = [h for h in self.hosts if h.exists(MARKER)]
        for host in found:
            host.run(f"rm -f {MARKER}", check=True)
        return [h.name for h in found]

    def good_mtimes(self) -> dict[str, int | None]:
        return {h.name: getattr(h.stat(GOOD_FILE), "st_mtime_ns", None) for h in self.hosts}
