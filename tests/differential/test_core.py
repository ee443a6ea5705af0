"""Differential cases for the core operations pullinfra already has (files, server, apt)."""

from __future__ import annotations

import pytest

from tests.differential import state
from tests.differential.harness import Case

CASES = [
    Case(
        name="files.file and files.directory with mode and owner",
        deploy='''
from pyinfra.operations import files
files.directory(name="app dir", path="/srv/app", mode="750", user="deploy", group="deploy")
files.file(name="app log", path="/srv/app/app.log", mode="640", user="deploy")
files.file(path="/srv/app/gone", present=False)
''',
        state=lambda h: state.files(h, ["/srv/app", "/srv/app/app.log", "/srv/app/gone"]),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_core_matches_pyinfra(differential, case):
    differential.check(case)
