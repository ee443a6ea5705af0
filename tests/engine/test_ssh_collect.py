"""SSHConnector._collect against a scripted channel: the message orders sshd can send.

A real sshd decides the order of output, EOF and exit status; these fakes pin the orders
that matter, and advance one message per wait so no test depends on timing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from agent.engine.connectors import ssh
from agent.engine.connectors.ssh import SSHConnector


class ScriptedChannel:
    """A paramiko Channel stand-in; `arrive()` delivers the next scripted message."""

    def __init__(self, script: list[tuple[str, object]]) -> None:
        self.script = list(script)
        self.stdout = b""
        self.stderr = b""
        self.eof_received = False
        self.closed = False
        self.status_event = threading.Event()
        self.status = -1
        self.selects = 0
        self.status_waits = 0

    def arrive(self) -> None:
        if not self.script:
            return
        kind, value = self.script.pop(0)
        if kind == "out":
            self.stdout += value  # type: ignore[operator]
        elif kind == "err":
            self.stderr += value  # type: ignore[operator]
        elif kind == "eof":
            self.eof_received = True
        elif kind == "status":
            self.status = value  # type: ignore[assignment]
            self.status_event.set()

    def recv_ready(self) -> bool:
        return bool(self.stdout)

    def recv_stderr_ready(self) -> bool:
        return bool(self.stderr)

    def recv(self, size: int) -> bytes:
        data, self.stdout = self.stdout[:size], self.stdout[size:]
        return data

    def recv_stderr(self, size: int) -> bytes:
        data, self.stderr = self.stderr[:size], self.stderr[size:]
        return data

    def exit_status_ready(self) -> bool:
        return self.closed or self.status_event.is_set()

    def recv_exit_status(self) -> int:
        return self.status


class _ActiveTransport:
    def is_active(self) -> bool:
        return True


class _Client:
    def get_transport(self) -> _ActiveTransport:
        return _ActiveTransport()


def _collect(
    monkeypatch: pytest.MonkeyPatch, channel: ScriptedChannel, on_select: Callable[[], None]
):
    def fake_select(readable, _w, _x, _timeout):
        channel.selects += 1
        on_select()
        channel.arrive()
        return readable, [], []

    real_wait = channel.status_event.wait

    def status_wait(timeout=None):
        channel.status_waits += 1
        channel.arrive()
        return real_wait(0)

    monkeypatch.setattr(ssh.select, "select", fake_select)
    monkeypatch.setattr(channel.status_event, "wait", status_wait)
    connector = SSHConnector("h1", {})
    connector._client = _Client()  # type: ignore[assignment]
    return connector._collect(channel, timeout=None)  # type: ignore[arg-type]


def test_after_eof_it_waits_for_the_exit_status_instead_of_polling(monkeypatch):
    # From EOF on, paramiko keeps the channel's fileno readable: select would return at once.
    channel = ScriptedChannel([("out", b"hello\n"), ("eof", None), ("err", b""), ("status", 3)])

    def no_select_after_eof() -> None:
        assert not channel.eof_received, "select() after EOF returns at once: a busy loop"

    output = _collect(monkeypatch, channel, no_select_after_eof)
    assert (output.exit_code, output.stdout, output.stderr) == (3, ["hello"], [])
    assert channel.status_waits >= 1


def test_output_after_an_early_exit_status_is_kept(monkeypatch):
    channel = ScriptedChannel(
        [("out", b"one\n"), ("status", 0), ("out", b"two\n"), ("err", b"warn\n"), ("eof", None)]
    )
    output = _collect(monkeypatch, channel, lambda: None)
    assert (output.exit_code, output.stdout, output.stderr) == (0, ["one", "two"], ["warn"])
