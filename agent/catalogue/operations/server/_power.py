"""server operations: power (reboot and wait for the host to come back) and waiting for a port.

server.reboot is pyinfra's steps: read how long the host has been up, start the reboot
detached from the session, then a function command that waits, drops the connection and
reconnects until the host answers having booted since. The connection is the engine's, so
the wait uses the Host's own `disconnect()` / `reconnect()` (agent/engine/host.py), and the
operations after it run on the new connection.
"""

from __future__ import annotations

import time
from typing import Any

from agent.catalogue.facts.server._power import InitAge
from agent.engine.command import Commands, FunctionCommand, StringCommand
from agent.engine.context import host
from agent.engine.errors import HostFailure
from agent.engine.operation import operation
from agent.engine.operation_errors import OperationError, OperationValueError

__all__ = ["reboot", "wait"]

# Detached and delayed, so the command returns (and its channel closes) before the host goes
# down: a reboot run inline can leave the connection waiting for an exit status that never
# comes.
REBOOT_COMMAND = "( sleep 1 && reboot ) </dev/null >/dev/null 2>&1 &"

# A host that kept running reads more than its age before plus the time measured here since
# (the two readings bracket that time), less a second: whole-second readings (no procfs) can
# each be up to a second short. A rebooted host reads a second less than that and more: its
# reboot starts a second after the first reading, and its new init only once it is down.
SLACK_SECONDS = 1.0

# Kept as module names so a test can make the wait fast without touching the real clock.
_sleep = time.sleep
_monotonic = time.monotonic


def _seconds(value: Any, argument: str, allow_zero: bool = True) -> float:
    wrong = isinstance(value, bool) or not isinstance(value, int | float)
    if wrong or value < 0 or (value == 0 and not allow_zero):
        least = "0 or more" if allow_zero else "more than 0"
        raise OperationValueError(
            f"server.reboot: `{argument}` must be a number of seconds, {least}, got {value!r}"
        )
    return float(value)


def _booted_since(age_before: float, read_at: float) -> bool | None:
    """Whether the host, over the connection just opened, has booted since its age was read
    (at `read_at`): it has when it is younger than it would be had it kept running. None
    when the connection breaks under the read (sshd still being stopped by a shutdown)."""
    elapsed = _monotonic() - read_at
    try:
        age = host.get_fact(InitAge)
    except HostFailure:
        return None
    if age is None:
        return None
    return age < age_before + elapsed - SLACK_SECONDS


def _wait_for_reboot(
    age_before: float, read_at: float, delay: float, interval: float, timeout: float
) -> None:
    """Wait `delay`, drop the connection, then reconnect every `interval` until the host has
    booted again; after `timeout` seconds of trying, fail with pyinfra's message."""
    _sleep(delay)
    host.disconnect()
    started = _monotonic()
    connected = False
    while True:
        if not connected:
            connected = host.reconnect()
        if connected:
            booted = _booted_since(age_before, read_at)
            if booted:
                return
            connected = booted is not None
        if _monotonic() - started >= timeout:
            raise OperationError(
                f"Server did not reboot in time (reboot_timeout={timeout:g}s)"
            )
        _sleep(interval)


@operation(is_idempotent=False)
def reboot(delay: int = 10, interval: int = 1, reboot_timeout: int = 300) -> Commands:
    """Reboot the host and wait for it to come back, so the operations after this one run on
    the rebooted host.

    + delay: seconds to wait after starting the reboot before trying to reconnect
    + interval: seconds between reconnect attempts
    + reboot_timeout: seconds of reconnect attempts before the host fails

    pyinfra compares uptimes to see the host booted again; this compares the age of the
    host's init (InitAge), which is the uptime on a machine and also resets in a container.
    """
    wait_delay = _seconds(delay, "delay")
    wait_interval = _seconds(interval, "interval", allow_zero=False)
    timeout = _seconds(reboot_timeout, "reboot_timeout")
    age_before = host.get_fact(InitAge)
    read_at = _monotonic()
    if age_before is None:
        raise OperationError("server.reboot: the host did not say how long it has been up")
    yield StringCommand(REBOOT_COMMAND)
    yield FunctionCommand(
        _wait_for_reboot, (age_before, read_at, wait_delay, wait_interval, timeout)
    )


def _check_port(port: Any) -> int:
    """A port number, also as digits in a string (host data read from a file often is)."""
    if isinstance(port, str) and port.strip().isdigit():
        port = int(port)
    valid = isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536
    if not valid:
        raise OperationValueError(
            f"server.wait needs a TCP port number from 1 to 65535 as port=..., got {port!r}"
        )
    return int(port)


@operation(is_idempotent=False)
def wait(port: int | str) -> Commands:
    """Wait until something listens on `port` on the host, checking every second.

    The listening sockets come from `ss` (iproute2, on every current Linux) or else
    `netstat`; without either the wait fails at once instead of looping for ever.
    """
    port = _check_port(port)
    yield StringCommand(
        "command -v ss >/dev/null || command -v netstat >/dev/null"
        ' || { echo "server.wait needs ss or netstat on the host" >&2; exit 1; };'
        " while ! { ss -ltn 2>/dev/null || netstat -an 2>/dev/null; }"
        f" | grep LISTEN | grep -E '[.:]{port}[[:space:]]'; do"
        f' echo "waiting for port {port}..."; sleep 1; done'
    )
