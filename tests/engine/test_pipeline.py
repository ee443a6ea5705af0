"""HostPipeline (engine/pipeline.py): what is known stays known only while it is true.

The connector here is a small key-value "host": `set K V` changes it, `get K` reads it. It
records every round trip, so the tests can say how many there were and what went in each.
"""

from __future__ import annotations

from agent.engine.command import StringCommand
from agent.engine.connectors.base import CommandArgs, CommandOutput, Connector, ShellRequest
from agent.engine.pipeline import Deferred, FactRead, HostPipeline


class KeyValueHost(Connector):
    def __init__(self) -> None:
        self.state: dict[str, str] = {}
        self.batches: list[list[str]] = []

    def connect(self) -> None: ...

    def disconnect(self) -> None: ...

    def put_file(self, data: bytes, dest: str, args: CommandArgs) -> None: ...

    def get_file(self, path: str, args: CommandArgs) -> bytes:
        raise FileNotFoundError(path)

    def run_batch(self, requests, stop_after_failure):
        self.batches.append([r.command.get_raw_value() for r in requests])
        return super().run_batch(requests, stop_after_failure)

    def run_shell_command(self, command: StringCommand, args: CommandArgs) -> CommandOutput:
        verb, key, *value = command.get_raw_value().split()
        if verb == "set":
            self.state[key] = value[0]
            return CommandOutput(0)
        if verb == "fail":
            return CommandOutput(1, [], ["failed"])
        return CommandOutput(0, [self.state.get(key, "")])


def _read(key: str, immutable: bool = False, cacheable: bool = True, **args) -> FactRead:
    command = StringCommand("get", key)
    return FactRead(command, CommandArgs(**args), f"get {key}", immutable, cacheable)


def _change(text: str, position: int = 0) -> Deferred:
    return Deferred(StringCommand(text), CommandArgs(), text, position)


def test_a_read_is_answered_from_what_is_known_until_the_host_changes():
    host = KeyValueHost()
    host.state["a"] = "1"
    pipeline = HostPipeline(host)
    assert pipeline.known(_read("a")) is None
    assert pipeline.exchange([_read("a")], True).reads[0].stdout == ["1"]
    assert pipeline.known(_read("a")).stdout == ["1"]
    pipeline.defer(_change("set a 2"))
    assert pipeline.known(_read("a")) is None  # a pending command may change it
    pipeline.exchange([], True)
    assert host.state["a"] == "2"
    assert pipeline.known(_read("a")) is None


def test_reads_sent_after_a_change_are_kept_and_show_the_change():
    host = KeyValueHost()
    pipeline = HostPipeline(host)
    pipeline.exchange([_read("a")], True)
    pipeline.defer(_change("set a 2"))
    exchange = pipeline.exchange([_read("a")], True)
    assert host.batches[-1] == ["set a 2", "get a"]  # one round trip, the change first
    assert exchange.reads[0].stdout == ["2"]
    assert pipeline.known(_read("a")).stdout == ["2"]


def test_immutable_facts_survive_a_change_and_volatile_ones_are_never_kept():
    host = KeyValueHost()
    host.state.update(os="linux", clock="1")
    pipeline = HostPipeline(host)
    pipeline.exchange([_read("os", immutable=True), _read("clock", cacheable=False)], True)
    pipeline.defer(_change("set x 1"))
    assert pipeline.known_after_change(_read("os", immutable=True)).stdout == ["linux"]
    assert pipeline.known(_read("clock", cacheable=False)) is None
    pipeline.exchange([], True)
    assert pipeline.known(_read("os", immutable=True)).stdout == ["linux"]
    pipeline.host_changed()
    assert pipeline.known(_read("os", immutable=True)).stdout == ["linux"]


def test_an_upload_or_callback_forgets_mutable_facts():
    pipeline = HostPipeline(KeyValueHost())
    pipeline.exchange([_read("a")], True)
    pipeline.host_changed()
    assert pipeline.known(_read("a")) is None


def test_a_failed_command_skips_the_rest_but_reads_still_run():
    host = KeyValueHost()
    pipeline = HostPipeline(host)
    pipeline.defer(_change("fail x"))
    pipeline.defer(_change("set b 1", 1))
    exchange = pipeline.exchange([_read("b")], True)
    assert exchange.commands[0][1].exit_code == 1
    assert exchange.commands[1][1] is None
    assert "b" not in host.state
    assert exchange.reads[0].stdout == [""]


def test_what_needs_a_channel_of_its_own_is_sent_alone_in_order():
    host = KeyValueHost()
    pipeline = HostPipeline(host)
    pipeline.defer(_change("set a 1"))
    pipeline.exchange([_read("a", timeout=5), _read("b")], True)
    assert host.batches == [["set a 1"], ["get a"], ["get b"]]
    assert pipeline.round_trips == 3


def test_the_default_batch_runs_requests_in_order():
    host = KeyValueHost()
    outputs = host.run_batch(
        [ShellRequest(StringCommand("set a 1"), CommandArgs()),
         ShellRequest(StringCommand("get a"), CommandArgs(), reads_only=True)],
        True,
    )
    assert outputs[1].stdout == ["1"]
