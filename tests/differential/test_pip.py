"""Differential cases for the pip family: pip.venv, pip.virtualenv and pip.packages, with
packages installed from a local wheel directory (`--no-index --find-links`, as real deploys
without an index do; the wheels are tests/ops/wheels.py's), inside virtualenvs: Debian's own
pip refuses to install outside one (PEP 668)."""

from __future__ import annotations

import pytest

from tests.differential import state_pip
from tests.differential.harness import Case
from tests.differential.state_pip import FIND_LINKS
from tests.testbed import Host


def _wheels_and_old_venvs(host: Host) -> None:
    state_pip.write_wheels(host)
    state_pip.make_venv(host, "/opt/app", ["pullinfra-demo==1.0", "pullinfra_other"])
    state_pip.make_venv(host, "/opt/old")


CASES = [
    Case(
        name="pip.venv then pinned packages from a wheel directory",
        deploy=f'''
from pyinfra.operations import pip
pip.venv(name="venv", path="/opt/venv", python="python3")
pip.packages(name="pinned", packages=["pullinfra-demo==1.0", "Pullinfra_Other"],
             virtualenv="/opt/venv", extra_install_args="{FIND_LINKS}")
pip.packages(name="already there", packages=["pip"], virtualenv="/opt/venv")
''',
        setup=state_pip.write_wheels,
        state=lambda h: state_pip.venvs(h, ["/opt/venv"]),
    ),
    Case(
        # latest=True upgrades on every run in both tools: only pip knows of a newer wheel.
        name="pip.packages upgrades with latest, removes, and pip.venv removes a venv",
        deploy=f'''
from pyinfra.operations import pip
pip.packages(name="upgrade", packages=["pullinfra-demo"], latest=True,
             virtualenv="/opt/app", extra_install_args="{FIND_LINKS}")
pip.packages(name="remove", packages=["pullinfra_other", "never-installed"], present=False,
             virtualenv="/opt/app")
pip.venv(name="old venv gone", path="/opt/old", present=False)
pip.virtualenv(name="never made", path="/opt/never", present=False)
''',
        setup=_wheels_and_old_venvs,
        state=lambda h: state_pip.venvs(h, ["/opt/app", "/opt/old"]),
    ),
    Case(
        # A requirements file goes to pip on every run, in both tools.
        name="pip.packages installs an uploaded requirements file into a new venv",
        deploy=f'''
from pyinfra.operations import files, pip
files.put(name="requirements", src="requirements.txt", dest="/srv/requirements.txt")
pip.packages(name="from requirements", requirements="/srv/requirements.txt",
             virtualenv="/opt/req", virtualenv_kwargs={{"venv": True, "python": "python3"}},
             extra_install_args="{FIND_LINKS}")
''',
        files={"requirements.txt": "pullinfra-demo==2.0\npullinfra_other\n"},
        setup=state_pip.write_wheels,
        state=lambda h: state_pip.venvs(h, ["/opt/req"]),
    ),
]


# What each case leaves, beside agreeing with pyinfra: (venv path, freeze lines present).
EXPECTED = {
    CASES[0].name: ("/opt/venv", {"pullinfra-demo==1.0", "pullinfra_other==0.1"}, set()),
    CASES[1].name: ("/opt/app", {"pullinfra-demo==2.0"}, {"pullinfra_other==0.1"}),
    CASES[2].name: ("/opt/req", {"pullinfra-demo==2.0", "pullinfra_other==0.1"}, set()),
}
# (changed per op on run 1, on run 2)
CHANGES = {
    CASES[0].name: ([True, True, False], [False, False, False]),
    CASES[1].name: ([True, True, True, False], [True, False, False, False]),
    CASES[2].name: ([True, True], [False, True]),
}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_pip_family_matches_pyinfra(differential, case):
    ours = differential.check(case).pullinfra
    path, present, absent = EXPECTED[case.name]
    venv = ours.state["h1"][path]
    assert venv["pyvenv.cfg"]["include-system-site-packages"] == "false"
    assert present <= set(venv["freeze"]) and not absent & set(venv["freeze"])
    assert [[op.changed for op in run["h1"]] for run in ours.runs] == list(CHANGES[case.name])
    if path == "/opt/app":
        assert ours.state["h1"]["/opt/old"] is None


def test_virtualenv_tool_missing_fails_in_both(differential):
    """Bed hosts (Debian 12 with python3-venv) have no `virtualenv` tool, which
    pip.virtualenv uses unless venv=True: both tools run it and fail the operation."""
    case = Case(
        name="pip.virtualenv without the virtualenv tool",
        deploy='''
from pyinfra.operations import pip
pip.virtualenv(name="virtualenv tool", path="/opt/tool")
''',
        state=lambda h: state_pip.venvs(h, ["/opt/tool"]),
    )
    comparison = differential.run(case)
    assert comparison.same, comparison.diff()
    for side in (comparison.pyinfra, comparison.pullinfra):
        assert [op.success for run in side.runs for op in run["h1"]] == [False, False]
        assert side.state["h1"] == {"/opt/tool": None}
