"""Prefetch (engine/prefetch.py) with the local connector: what runs, what is read, when.

A counting connector records each round trip's requests, so the tests can say which reads
went in bulk at prepare, which went with an operation's commands, and that nothing past an
operation's first yield ever runs before execute.
"""

from __future__ import annotations

from agent.engine.connectors.local import LocalConnector
from agent.engine.events import StageStarted
from agent.vocab import OpStatus, Stage


class CountingLocal(LocalConnector):
    def __init__(self) -> None:
        self.stage = ""
        self.batches: list[tuple[str, list[tuple[bool, str]]]] = []

    def run_batch(self, requests, stop_after_failure):
        kinds = [(r.reads_only, r.command.get_raw_value()) for r in requests]
        self.batches.append((self.stage, kinds))
        return super().run_batch(requests, stop_after_failure)


def _run(run_local, inventory, deploy):
    connector = CountingLocal()
    events: list = []

    def follow(event):
        events.append(event)
        if isinstance(event, StageStarted):
            connector.stage = event.stage

    result = run_local(inventory, deploy, connector_factory=lambda spec: connector,
                       events=_Events(follow))
    return result, connector


class _Events(list):
    """run_local's event list, told about each event as it arrives."""

    def __init__(self, follow) -> None:
        super().__init__()
        self.follow = follow

    def append(self, event) -> None:
        self.follow(event)
        super().append(event)


def test_generators_never_pass_their_first_yield_before_execute(write, run_local, tmp_path):
    trace = tmp_path / "trace"
    inventory = write("inv.py", "hosts = ['h1']\n")
    deploy = write(
        "deploy.py",
        f"""
        from pyinfra import host
        from agent.engine.operation import operation
        from tests.engine.testops import Echo

        @operation()
        def traced(label):
            host.get_fact(Echo, text=label)
            with open({str(trace)!r}, "a") as out:
                out.write(f"before {{label}}\\n")
            yield "true"
            with open({str(trace)!r}, "a") as out:
                out.write(f"after {{label}}\\n")

        traced("one")
        traced("two")
        """,
    )
    result, _ = _run(run_local, inventory, deploy)
    assert [op.status for op in result.host("h1").operations] == [OpStatus.CHANGED] * 2
    lines = trace.read_text().splitlines()
    assert lines.count("after one") == lines.count("after two") == 1
    assert lines.count("before one") >= 2  # learnt at prepare, then run at execute
    assert lines[-1] == "after two"


def test_a_fact_is_read_once_while_the_host_is_unchanged(write, run_local):
    inventory = write("inv.py", "hosts = ['h1']\n")
    deploy = write(
        "deploy.py",
        """
        from tests.engine.testops import echo_reason
        echo_reason("a")
        echo_reason("a")
        echo_reason("b")
        """,
    )
    result, connector = _run(run_local, inventory, deploy)
    assert [op.reasons for op in result.host("h1").operations] == [["a"], ["a"], ["b"]]
    prepare = [batch for stage, batch in connector.batches if stage == Stage.PREPARE]
    assert prepare == [[(True, "echo a"), (True, "echo b")]]
    assert [batch for stage, batch in connector.batches if stage == Stage.EXECUTE] == []


def test_a_change_sends_the_next_operations_reads_after_its_commands(write, run_local, tmp_path):
    flag = tmp_path / "flag"
    inventory = write("inv.py", "hosts = ['h1']\n")
    deploy = write(
        "deploy.py",
        f"""
        from agent.engine.operation import operation
        from tests.engine.testops import echo_reason

        @operation()
        def flip():
            yield "echo on > {flag}"

        echo_reason("$(cat {flag} 2>/dev/null || echo off)")
        flip()
        echo_reason("$(cat {flag} 2>/dev/null || echo off)")
        """,
    )
    result, connector = _run(run_local, inventory, deploy)
    reasons = [op.reasons for op in result.host("h1").operations]
    assert reasons == [["off"], [], ["on"]]
    execute = [batch for stage, batch in connector.batches if stage == Stage.EXECUTE]
    assert len(execute) == 1
    (sent,) = execute
    assert [reads_only for reads_only, _ in sent] == [False, True]
