"""Test-only operations and facts, so engine tests do not depend on the real catalogue."""

from __future__ import annotations

import threading
from pathlib import Path

from agent.engine.command import FileUploadCommand, FunctionCommand, QuoteString, StringCommand
from agent.engine.context import host
from agent.engine.fact import FactBase
from agent.engine.operation import operation


@operation()
def mark(path: str | None = None, label: str = "x"):
    """Append a label to a log file on the host: the file shows the order ops really ran in."""
    yield StringCommand("echo", QuoteString(label), ">>", QuoteString(path or host.data.log))


@operation()
def touch(path: str):
    """Create a file unless it exists (idempotent)."""
    if Path(path).exists():
        host.noop(f"{path} exists")
    else:
        yield StringCommand("touch", QuoteString(path))


@operation()
def nothing():
    host.noop("nothing to do")
    return
    yield


@operation(is_idempotent=False)
def shell(*commands: str):
    yield from commands


@operation()
def wait_at(barrier: threading.Barrier):
    yield FunctionCommand(barrier.wait, (30,))


class Echo(FactBase):
    def command(self, text: str) -> str:
        return f"echo {text}"


class FixedEcho(FactBase):
    immutable = True

    def command(self, text: str) -> str:
        return f"echo {text}"


@operation()
def upload(data: bytes, dest: str):
    """Write bytes through the connector's file transfer, with a diff of the change."""
    before = host.get_file(dest)
    if before == data:
        host.noop(f"{dest} is up to date")
        return
    host.record_diff(dest, None if before is None else before.decode(), data.decode())
    yield FileUploadCommand(data, dest, mode="640")


@operation()
def echo_reason(text: str):
    """Read the Echo fact and record its value as why nothing was done: the reason shows
    what the operation saw."""
    host.noop(host.get_fact(Echo, text=text))
    return
    yield
