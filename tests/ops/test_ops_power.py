"""server.reboot, server.wait and the RebootRequired / InitAge facts: facts in, commands out;
the reboot's wait run through the engine against a connector that reboots on demand."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from agent.catalogue.facts.server import RebootRequired
from agent.catalogue.facts.server._power import InitAge
from agent.catalogue.operations import server
from agent.catalogue.operations.server import _power
from agent.compat import run_deploy
from agent.engine.command import StringCommand
from agent.engine.connectors.base import (
    CommandArgs,
    CommandOutput,
    ConnectError,
    ConnectionLost,
    Connector,
)
from agent.engine.operation_errors import OperationValueError
from agent.engine.run import RunOptions
from agent.vocab import Mode, OpStatus
from tests.ops.conftest import FakeHost, local_deploy, run_fact, run_op

# -- facts ---------------------------------------------------------------------------------


def test_reboot_required_reads_the_marker_line() -> None:
    assert RebootRequired().process(["reboot_required"]) is True
    assert RebootRequired().process(["no_reboot_required"]) is False
    assert RebootRequired().process(["  reboot_required  "]) is True


def test_reboot_required_on_this_machine_matches_its_marker_files() -> None:
    marked = any(Path(p).exists() for p in ("/var/run/reboot-required",
                                            "/var/run/reboot-required.pkgs"))
    assert run_fact(RebootRequired) is marked


def test_reboot_required_sees_debians_marker(tmp_path: Path) -> None:
    """The command run with /var/run replaced by a directory that holds the marker."""
    command = RebootRequired().command().replace("/var/run/", f"{tmp_path}/")
    def run() -> str:
        return subprocess.run(["sh", "-c", command], capture_output=True, text=True,
                              check=True).stdout.strip()
    assert run() == "no_reboot_required"
    (tmp_path / "reboot-required.pkgs").write_text("linux-image-amd64\n")
    assert run() == "reboot_required"


def test_init_age_is_the_age_of_pid_1() -> None:
    seconds = run_fact(InitAge)
    etimes = subprocess.run(["ps", "-o", "etimes=", "-p", "1"], capture_output=True,
                            text=True, check=True).stdout.strip()
    assert isinstance(seconds, float)
    assert abs(seconds - int(etimes)) <= 2
    assert InitAge().process(["12345.67"]) == 12345.67
    assert InitAge().process(["12345"]) == 12345


def test_init_age_that_is_not_a_number_is_a_fact_error() -> None:
    from agent.engine.fact import FactError

    with pytest.raises(FactError, match="not a number"):
        InitAge().process(["up 3 days"])


# -- server.reboot: commands out -------------------------------------------------------------


def test_reboot_reads_the_hosts_age_starts_a_detached_reboot_then_waits(fake: FakeHost) -> None:
    fake.fact(InitAge, 5000)
    commands = run_op(fake, server.reboot)
    assert commands == [_power.REBOOT_COMMAND, ("function", _power._wait_for_reboot)]
    assert "reboot" in commands[0] and commands[0].endswith("&")


def test_reboot_passes_its_timing_to_the_wait(fake: FakeHost) -> None:
    from agent.engine.context import bound_host

    fake.fact(InitAge, 77)
    with bound_host(fake):  # type: ignore[arg-type]
        *_, wait = list(server.reboot._inner(delay=3, interval=2, reboot_timeout=60))
    age, read_at, *timing = wait.args
    assert age == 77 and isinstance(read_at, float)
    assert timing == [3.0, 2.0, 60.0]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"delay": -1}, "`delay` must be a number of seconds, 0 or more"),
    ({"interval": 0}, "`interval` must be a number of seconds, more than 0"),
    ({"reboot_timeout": "long"}, "`reboot_timeout` must be a number of seconds"),
    ({"delay": True}, "`delay` must be"),
])
def test_reboot_argument_errors(fake: FakeHost, kwargs: dict, message: str) -> None:
    fake.fact(InitAge, 1)
    with pytest.raises(OperationValueError, match=message):
        run_op(fake, server.reboot, **kwargs)


# -- server.wait -----------------------------------------------------------------------------


def test_wait_loops_until_the_port_listens(fake: FakeHost) -> None:
    [command] = run_op(fake, server.wait, port=8080)
    assert "grep -E '[.:]8080[[:space:]]'" in command
    assert "ss -ltn" in command and "netstat -an" in command
    assert 'echo "waiting for port 8080..."; sleep 1' in command
    assert run_op(fake, server.wait, port="22") == [command.replace("8080", "22")]


def _listening(port: int) -> tuple[int, str]:
    """Run server.wait's command here with `sleep` made to fail, so a port nobody listens on
    ends the loop at once instead of waiting."""
    [command] = run_op(FakeHost(), server.wait, port=port)
    command = command.replace("sleep 1", "exit 3")
    proc = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout


def test_wait_command_sees_a_listening_port_and_not_a_closed_one() -> None:
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        code, out = _listening(port)
        assert code == 0 and f":{port}" in out
    # A port number that is a prefix of the listening one does not count.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        code, out = _listening(int(str(port)[:-1]))
        assert code == 3 and "waiting for port" in out


@pytest.mark.parametrize("port", [0, 70000, "http", None, True])
def test_wait_needs_a_port_number(fake: FakeHost, port: object) -> None:
    with pytest.raises(OperationValueError, match="TCP port number from 1 to 65535"):
        run_op(fake, server.wait, port=port)


def test_wait_bad_port_fails_at_the_deploy_line(tmp_path: Path) -> None:
    inventory, deploys = local_deploy(tmp_path, "from pyinfra.operations import server\n\n"
        "server.wait(name='bad', port=99999)\n")
    result = run_deploy(inventory, deploys)
    [op] = result.host("@local").operations
    assert op.status == OpStatus.FAILED
    assert f"{deploys[0]}:3" in (op.error or "")
    assert "TCP port number" in (op.error or "")


# -- server.reboot through the engine, against a connector that reboots ------------------------


class RebootingConnector(Connector):
    """A host that reboots when told, on the real clock: as the reboot command does, it goes
    down a second after the command and its new init starts `downtime` seconds later;
    connects are refused until then, and `refusals` more after. `age` is how long it has
    been up when the run starts. `boots=False` is a host that ignores the reboot; the first
    `drops` connections after the boot break on their first command (as when sshd is
    stopped under a fresh connection)."""

    def __init__(self, refusals: int = 0, boots: bool = True, drops: int = 0,
                 age: float = 5000, downtime: float = 0.2) -> None:
        self.started = time.monotonic() - age  # when the running init started
        self.refusals = refusals
        self.boots = boots
        self.drops = drops
        self.downtime = downtime
        self.connected = False
        self.next_init: float | None = None
        self.booted = 0
        self.log: list[str] = []
        self._drop_next = False
        self.dropped = 0

    def connect(self) -> None:
        self.log.append("connect")
        if self.next_init is not None and self.boots:
            if time.monotonic() < self.next_init:
                raise ConnectError("connection refused (rebooting)")
            if self.refusals > 0:
                self.refusals -= 1
                raise ConnectError("connection refused (sshd not up yet)")
            self.started, self.next_init = self.next_init, None
            self.booted += 1
        if self.drops > 0 and self.booted:
            self.drops -= 1
            self._drop_next = True
        self.connected = True

    def disconnect(self) -> None:
        self.log.append("disconnect")
        self.connected = False

    def run_shell_command(self, command: StringCommand, args: CommandArgs) -> CommandOutput:
        if not self.connected:
            raise ConnectionLost("connection is closed")
        if self._drop_next:
            self._drop_next = False
            self.connected = False
            self.dropped += 1
            raise ConnectionLost("connection reset")
        text = command.get_raw_value()
        self.log.append(text)
        if "/proc/1/stat" in text:
            return CommandOutput(0, [f"{time.monotonic() - self.started:.2f}"])
        if text == _power.REBOOT_COMMAND:
            self.next_init = time.monotonic() + 1 + self.downtime
        return CommandOutput(0)

    def put_file(self, data: bytes, dest: str, args: CommandArgs) -> None:
        raise AssertionError("no uploads here")

    def get_file(self, path: str, args: CommandArgs) -> bytes:
        raise FileNotFoundError(path)


DEPLOY = """from pyinfra.operations import server

server.shell(name="before", commands=["echo before"])
server.reboot(name="reboot", delay=0, interval=0.01, reboot_timeout={timeout})
server.shell(name="after", commands=["echo after"])
"""


def _run(tmp_path: Path, connector: RebootingConnector, timeout: float = 5):
    inventory, deploys = local_deploy(tmp_path, DEPLOY.format(timeout=timeout))
    options = RunOptions(connector_factory=lambda spec: connector)
    return run_deploy(inventory, deploys, options).host("@local")


def test_reboot_waits_for_the_host_and_later_ops_use_the_new_connection(
    tmp_path: Path,
) -> None:
    connector = RebootingConnector(refusals=2)
    host = _run(tmp_path, connector)
    assert [(op.name, op.status) for op in host.operations] == [
        ("before", OpStatus.CHANGED), ("reboot", OpStatus.CHANGED), ("after", OpStatus.CHANGED)]
    assert connector.booted == 1
    log = connector.log
    reboot_at = log.index(_power.REBOOT_COMMAND)
    # Dropped, then refused connects (each after closing what is left) until one reaches
    # the booted host: its age is read, and only then does the next operation run.
    age_at = next(i for i, line in enumerate(log) if i > reboot_at and "/proc/1/stat" in line)
    attempts = log[reboot_at + 2:age_at]
    assert log[reboot_at + 1] == "disconnect"
    assert attempts == ["disconnect", "connect"] * (len(attempts) // 2)
    assert len(attempts) // 2 >= 3  # refused while down, twice more, then the one that works
    assert log[age_at + 1:] == ["echo after", "disconnect"]
    assert host.operations[1].commands == [_power.REBOOT_COMMAND, "python _wait_for_reboot"]


def test_a_host_booted_moments_before_is_still_seen_to_reboot(tmp_path: Path) -> None:
    """Up half a second, down for a tenth: the new init is still well over the slack
    younger than the old one would be."""
    connector = RebootingConnector(age=0.5, downtime=0.1)
    host = _run(tmp_path, connector)
    assert [op.status for op in host.operations] == [OpStatus.CHANGED] * 3
    assert connector.booted == 1


def test_reboot_retries_a_connection_that_breaks_before_the_age_is_read(
    tmp_path: Path,
) -> None:
    connector = RebootingConnector(refusals=0, drops=1)
    host = _run(tmp_path, connector)
    assert [op.status for op in host.operations] == [OpStatus.CHANGED] * 3
    assert (connector.booted, connector.dropped) == (1, 1)
    reboot_at = connector.log.index(_power.REBOOT_COMMAND)
    assert connector.log.index("echo after") > reboot_at


def test_reboot_that_never_comes_back_fails_the_host_after_the_timeout(
    tmp_path: Path,
) -> None:
    connector = RebootingConnector(boots=True, refusals=10**9, downtime=0)
    host = _run(tmp_path, connector, timeout=0.2)
    before, reboot = host.operations[:2]
    assert before.status == OpStatus.CHANGED
    assert reboot.status == OpStatus.FAILED
    assert "Server did not reboot in time (reboot_timeout=0.2s)" in (reboot.error or "")
    assert "echo after" not in connector.log
    assert all(op.status != OpStatus.CHANGED for op in host.operations[2:])


def test_a_host_that_answers_without_rebooting_is_not_taken_as_rebooted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its age keeps counting up from the one read before the reboot."""
    connector = RebootingConnector(boots=False)
    monkeypatch.setattr(_power, "_sleep", lambda seconds: None)
    host = _run(tmp_path, connector, timeout=0.1)
    assert host.operations[1].status == OpStatus.FAILED
    assert "did not reboot in time" in (host.operations[1].error or "")
    assert connector.booted == 0


def test_reboot_argument_error_fails_at_the_deploy_line(tmp_path: Path) -> None:
    """Through a connector that only records, so no reboot can ever reach this machine."""
    connector = RebootingConnector()
    inventory, deploys = local_deploy(tmp_path, "from pyinfra.operations import server\n\n"
        "server.reboot(name='bad', interval=0)\n")
    result = run_deploy(inventory, deploys, RunOptions(connector_factory=lambda s: connector))
    [op] = result.host("@local").operations
    assert op.status == OpStatus.FAILED
    assert f"{deploys[0]}:3" in (op.error or "")
    assert "`interval` must be a number of seconds" in (op.error or "")
    assert _power.REBOOT_COMMAND not in connector.log


def test_plan_shows_the_reboot_without_rebooting(tmp_path: Path) -> None:
    connector = RebootingConnector()
    inventory, deploys = local_deploy(tmp_path, DEPLOY.format(timeout=5))
    options = RunOptions(mode=Mode.PLAN, connector_factory=lambda spec: connector)
    host = run_deploy(inventory, deploys, options).host("@local")
    reboot = host.operations[1]
    assert reboot.commands == [_power.REBOOT_COMMAND, "python _wait_for_reboot"]
    assert _power.REBOOT_COMMAND not in connector.log
    assert "disconnect" not in connector.log[1:-1]
    assert connector.booted == 0
