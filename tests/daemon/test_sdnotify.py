"""The sd_notify protocol against a real datagram socket, as systemd listens on one."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.daemon.sdnotify import SystemdNotifier


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    yield path, sock
    sock.close()


def messages(sock: socket.socket) -> list[str]:
    got = []
    sock.setblocking(False)
    while True:
        try:
            got.append(sock.recv(4096).decode())
        except BlockingIOError:
            return got


def test_ready_status_watchdog_and_stopping_reach_the_manager(manager) -> None:
    path, sock = manager
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid()),
           "OTHER": "kept"}
    notifier = SystemdNotifier.from_environ(env)
    assert env == {"OTHER": "kept"}  # children of the agent never see the protocol's variables
    assert notifier.active and notifier.watchdog_seconds == 30.0
    notifier.ready("applied:\n web abc")
    notifier.status("applied: web def")
    notifier.watchdog()
    notifier.stopping("stopping")
    assert messages(sock) == [f"READY=1\nSTATUS=applied: web abc\nMAINPID={os.getpid()}",
                              "STATUS=applied: web def", "WATCHDOG=1",
                              "STOPPING=1\nSTATUS=stopping"]


def test_the_watchdog_of_another_process_is_not_ours(manager) -> None:
    path, _ = manager
    notifier = SystemdNotifier.from_environ({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000",
                                             "WATCHDOG_PID": str(os.getpid() + 1)})
    assert notifier.watchdog_seconds is None


def test_an_abstract_socket_address_starts_with_a_nul() -> None:
    name = f"pullinfra-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2)
    try:
        SystemdNotifier(f"@{name}").ready("up")
        assert sock.recv(4096).startswith(b"READY=1\n")
    finally:
        sock.close()


def test_outside_systemd_nothing_is_sent_and_nothing_fails(tmp_path: Path) -> None:
    notifier = SystemdNotifier.from_environ({})
    assert not notifier.active and notifier.watchdog_seconds is None
    notifier.ready("up")
    notifier.watchdog()
    gone = SystemdNotifier(str(tmp_path / "no-such-socket"))
    gone.ready("up")  # a vanished manager is logged once, never raised
    gone.watchdog()
