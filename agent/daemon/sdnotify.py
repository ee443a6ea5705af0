"""systemd's readiness and watchdog protocol (sd_notify), spoken with the standard library.

Under `Type=notify`, `systemctl start` returns only once the agent says READY=1, so units
ordered after pullinfra start after it serves; STATUS= shows the applied revision in
`systemctl status`; WATCHDOG=1 pings let systemd restart an agent whose main loop hangs. The
protocol is one datagram per message to the socket in $NOTIFY_SOCKET, so it needs no
library. Outside systemd (no $NOTIFY_SOCKET) every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import MutableMapping

log = logging.getLogger(__name__)


class SystemdNotifier:
    """Messages to the service manager that started this process, if one did."""

    def __init__(self, address: str | None, watchdog_seconds: float | None = None) -> None:
        self._address = _socket_address(address) if address else None
        self.watchdog_seconds = watchdog_seconds
        """The unit's WatchdogSec, when the watchdog watches this process; None otherwise."""
        self._warned = False

    @classmethod
    def from_environ(cls, environ: MutableMapping[str, str]) -> SystemdNotifier:
        """Read and remove the protocol's variables, so that commands the deploy runs locally
        (their children) never see them and cannot speak for the agent."""
        address = environ.pop("NOTIFY_SOCKET", None)
        usec = environ.pop("WATCHDOG_USEC", None)
        pid = environ.pop("WATCHDOG_PID", None)
        watchdog = None
        if usec and usec.isdigit() and int(usec) > 0 and (
                not pid or not pid.isdigit() or int(pid) == os.getpid()):
            watchdog = int(usec) / 1_000_000
        return cls(address, watchdog)

    @property
    def active(self) -> bool:
        return self._address is not None

    def ready(self, status: str) -> None:
        self._send(f"READY=1\nSTATUS={_one_line(status)}\nMAINPID={os.getpid()}")

    def status(self, text: str) -> None:
        self._send(f"STATUS={_one_line(text)}")

    def stopping(self, status: str) -> None:
        self._send(f"STOPPING=1\nSTATUS={_one_line(status)}")

    def watchdog(self) -> None:
        self._send("WATCHDOG=1")

    def _send(self, message: str) -> None:
        if self._address is None:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self._address)
                sock.sendall(message.encode())
        except OSError as exc:
            if not self._warned:  # a vanished manager must not flood the log every second
                self._warned = True
                log.warning("cannot notify systemd", extra={"error": str(exc)})


def _socket_address(address: str) -> str:
    """A leading "@" names a socket in the abstract namespace, which starts with a NUL."""
    return "\0" + address[1:] if address.startswith("@") else address


def _one_line(text: str) -> str:
    return " ".join(text.split())
