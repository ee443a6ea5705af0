"""The stale-fact deploys of tests/engine/test_stale_facts.py, run by real pyinfra too: a later
operation reads a fact about a file, a package or an account an earlier operation changed,
and both tools must act on the new state alike, on both runs."""

from __future__ import annotations

import pytest

from tests.differential import state
from tests.differential.harness import Case
from tests.differential.state_files import texts
from tests.engine.test_stale_facts import (
    ACCOUNTS,
    CONF,
    FILE_WRITTEN_BY_AN_OPERATION,
    FILES_CHANGED_BY_COMMANDS,
    PACKAGE_INSTALLED_THEN_REMOVED,
    TEMPLATE_THEN_LINES,
)
from tests.testbed import Host


def _file_z(host: Host) -> None:
    host.write_file("/srv/stale-z", "there before the run\n")


def _carol(host: Host) -> None:
    host.run("useradd -m carol", check=True)


CASES = [
    Case(
        name="files.put then the same put and files.line",
        deploy=FILE_WRITTEN_BY_AN_OPERATION,
        files={"stale.conf": CONF},
        state=lambda h: texts(h, ["/srv/stale/app.conf"]),
    ),
    Case(
        name="files.file after commands made and removed the files",
        deploy=FILES_CHANGED_BY_COMMANDS,
        setup=_file_z,
        state=lambda h: texts(h, ["/srv/stale-y", "/srv/stale-z"]),
    ),
    Case(
        name="files.line edits what files.template rendered",
        deploy=TEMPLATE_THEN_LINES,
        files={"app.conf.j2": "# {{ host.name }}\nport={{ port }}\ndebug=true\n"},
        state=lambda h: texts(h, ["/srv/stale/app.conf"]),
    ),
    Case(
        name="apt.packages after apt.packages and apt-get installed",
        deploy=PACKAGE_INSTALLED_THEN_REMOVED,
        state=lambda h: state.packages(h, ["pullinfra-dummy", "pullinfra-dummy-extra"]),
    ),
    Case(
        name="server.user after server.user, useradd and userdel",
        deploy=ACCOUNTS,
        setup=_carol,
        state=lambda h: state.users(h, ["alice", "bob", "carol"]),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_stale_fact_deploys_match_pyinfra(differential, case):
    differential.check(case)
