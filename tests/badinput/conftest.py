"""One long-lived agent watching a real git remote, with two bed hosts, for every case that
arrives as a commit (inventory, deploy, repository) or a request (payloads)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.agent.gitfixtures import Remote
from tests.badinput.agents import Watched, agent_applying
from tests.badinput.repository import good_tree, push_tree
from tests.conftest import bed_unavailable
from tests.testbed import BedError


@pytest.fixture(scope="package")
def watched(bed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Watched]:
    """The agent has applied the good commit to both hosts before any case starts."""
    try:
        hosts = bed.pristine_hosts(2)
    except BedError as exc:
        bed_unavailable(str(exc))
    tmp = tmp_path_factory.mktemp("badinput")
    remote = Remote(tmp / "git")
    good = push_tree(remote, good_tree(hosts), "good")
    outside = tmp / "outside"
    outside.mkdir()
    with agent_applying(tmp, remote, good) as agent:
        watched = Watched(agent, remote, hosts, outside)
        watched.markers()  # a bed can outlive a session: start without a marker
        yield watched
