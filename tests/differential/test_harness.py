"""The harness itself: it must see a difference, and say where, or its passes mean nothing."""

from __future__ import annotations

import pytest

from tests.differential.harness import Case, Comparison, Observation, OpResult

CASE = Case(name="probe", deploy="", state=lambda h: None)


def _observation(tool: str, run1: list[OpResult], state: object = None) -> Observation:
    run2 = [op._replace(changed=False) for op in run1]
    return Observation(tool, [{"h1": run1}, {"h1": run2}], {"h1": state})


def test_agreeing_sides_pass():
    ops = [OpResult("files.file", True, True)]
    Comparison(CASE, _observation("pyinfra", ops), _observation("pullinfra", ops)).assert_same()


def test_a_different_changed_flag_fails_with_a_diff():
    comparison = Comparison(CASE, _observation("pyinfra", [OpResult("files.file", True, True)]),
                            _observation("pullinfra", [OpResult("files.file", False, True)]))
    with pytest.raises(AssertionError) as failure:
        comparison.assert_same()
    message = str(failure.value)
    assert '-      "files.file: changed"' in message
    assert '+      "files.file: no change"' in message


def test_a_different_state_fails_with_a_diff():
    ops = [OpResult("files.file", True, True)]
    comparison = Comparison(CASE, _observation("pyinfra", ops, {"mode": "0o644"}),
                            _observation("pullinfra", ops, {"mode": "0o600"}))
    with pytest.raises(AssertionError, match=r'(?s)-\s+"mode": "0o644".*\+\s+"mode": "0o600"'):
        comparison.assert_same()


def test_a_failure_on_both_sides_still_fails():
    ops = [OpResult("server.shell", False, False), OpResult("files.file", False, None)]
    comparison = Comparison(CASE, _observation("pyinfra", ops), _observation("pullinfra", ops))
    with pytest.raises(AssertionError, match=r"server\.shell failed") as failure:
        comparison.assert_same()
    assert "files.file never ran" in str(failure.value)


def test_the_hosts_really_are_compared(differential):
    # Each side's hosts have their own hostname, so a state that includes it must differ.
    comparison = differential.run(Case(
        name="hostname",
        deploy="from pyinfra.operations import server\nserver.shell(commands=['true'])\n",
        state=lambda h: h.read_text("/etc/hostname"),
    ))
    assert comparison.pyinfra.runs == comparison.pullinfra.runs == [
        {"h1": [OpResult("server.shell", True, True)]}] * 2
    assert not comparison.same
    assert comparison.pyinfra.state["h1"] != comparison.pullinfra.state["h1"]


def test_a_failing_operation_is_seen_on_both_sides(differential):
    comparison = differential.run(Case(
        name="failure",
        deploy='''
from pyinfra.operations import files, server
server.shell(name="fails", commands=["exit 3"])
files.file(name="after", path="/tmp/after")
''',
        state=lambda h: h.exists("/tmp/after"),
    ))
    for side in (comparison.pyinfra, comparison.pullinfra):
        assert side.runs[0]["h1"][0] == OpResult("fails", False, False), side
        assert side.state == {"h1": False}, side
        assert side.failures
    # The operation after the failure never ran, and both sides report it the same way.
    assert comparison.same, comparison.diff()
