"""SSH through paramiko: one transport per host for the whole run, one channel per command.

Host keys follow OpenSSH's StrictHostKeyChecking: `yes` refuses unknown hosts, `accept-new`
(the default) records unknown hosts and refuses changed keys, `no` accepts anything.
"""

from __future__ import annotations

import io
import os
import select
import socket
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import paramiko

from agent.engine.command import StringCommand
from agent.engine.connectors.base import (
    CommandArgs,
    CommandOutput,
    CommandTimeout,
    ConnectError,
    ConnectionLost,
    Connector,
    make_unix_command,
    split_lines,
)
from agent.engine.connectors.ssh_keys import load_private_key

_LOST = (paramiko.SSHException, EOFError, OSError, socket.error)
# A peer that vanishes (link cut, host powered off) sends no RST; without these the run would
# wait on it for TCP's ~15 minute retransmission limit. SSH keepalives put data in flight
# every KEEPALIVE_SECONDS, and TCP_USER_TIMEOUT drops the connection when it stays unacked.
KEEPALIVE_SECONDS = 5
DEAD_PEER_SECONDS = 20


def _known_hosts_name(hostname: str, port: int) -> str:
    return hostname if port == 22 else f"[{hostname}]:{port}"


class _AcceptNewPolicy(paramiko.MissingHostKeyPolicy):
    """Record a host seen for the first time; a changed key is still refused by paramiko."""

    def __init__(self, known_hosts_file: Path | None) -> None:
        self.known_hosts_file = known_hosts_file

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: Any) -> None:
        client.get_host_keys().add(hostname, key.get_name(), key)
        if self.known_hosts_file is None:
            return
        self.known_hosts_file.parent.mkdir(parents=True, exist_ok=True)
        line = f"{hostname} {key.get_name()} {key.get_base64()}\n"
        fd = os.open(self.known_hosts_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


def _choice(value: Any, default: bool) -> bool:
    return default if value is None else bool(value)


class SSHConnector(Connector):
    def __init__(self, name: str, data: Mapping[str, Any]) -> None:
        self.name = name
        self.hostname = str(data.get("ssh_hostname") or name)
        self.port = int(data.get("ssh_port") or 22)
        self.user = data.get("ssh_user")
        self.password = data.get("ssh_password")
        self.key = data.get("ssh_key")
        self.key_password = data.get("ssh_key_password")
        self.strict = data.get("ssh_strict_host_key_checking") or "accept-new"
        self.connect_timeout = float(data.get("ssh_connect_timeout") or 10)
        self.allow_agent = data.get("ssh_allow_agent")
        self.look_for_keys = data.get("ssh_look_for_keys")
        known = data.get("ssh_known_hosts_file")
        self.known_hosts_file = Path(os.path.expanduser(known or "~/.ssh/known_hosts"))
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._sftp_lock = threading.Lock()

    def _load_key(self) -> paramiko.PKey | None:
        if not self.key:
            return None
        return load_private_key(os.path.expanduser(str(self.key)), self.key_password)

    def _host_key_policy(self) -> paramiko.MissingHostKeyPolicy:
        if self.strict == "yes":
            return paramiko.RejectPolicy()
        if self.strict == "no":
            return paramiko.AutoAddPolicy()
        return _AcceptNewPolicy(self.known_hosts_file)

    def connect(self) -> None:
        client = paramiko.SSHClient()
        if self.strict != "no" and self.known_hosts_file.is_file():
            try:
                client.get_host_keys().load(str(self.known_hosts_file))
            except (OSError, paramiko.SSHException) as exc:
                raise ConnectError(f"cannot read {self.known_hosts_file}: {exc}") from None
        client.set_missing_host_key_policy(self._host_key_policy())
        pkey = self._load_key()
        no_explicit_auth = pkey is None and self.password is None
        try:
            client.connect(
                self.hostname,
                sock=self._open_socket(),
                port=self.port,
                username=self.user,
                password=self.password,
                pkey=pkey,
                timeout=self.connect_timeout,
                banner_timeout=self.connect_timeout,
                auth_timeout=self.connect_timeout,
                allow_agent=_choice(self.allow_agent, no_explicit_auth),
                look_for_keys=_choice(self.look_for_keys, no_explicit_auth),
            )
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise ConnectError(
                f"host key for {exc.hostname} changed (got {exc.key.get_name()});"
                f" if that is expected, remove its line from {self.known_hosts_file}"
            ) from None
        except paramiko.AuthenticationException:
            client.close()
            raise ConnectError(f"authentication failed as {self.user or 'current user'}") from None
        except paramiko.SSHException as exc:
            client.close()
            raise ConnectError(str(exc)) from None
        except (OSError, EOFError) as exc:
            client.close()
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise ConnectError(f"cannot connect to {self.hostname}:{self.port}: {reason}") from None
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(KEEPALIVE_SECONDS)
        self._client = client

    def _open_socket(self) -> socket.socket:
        """TCP with TCP_NODELAY: otherwise Nagle + delayed ACK add ~40 ms to every command."""
        sock = socket.create_connection((self.hostname, self.port), timeout=self.connect_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if hasattr(socket, "TCP_USER_TIMEOUT"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, DEAD_PEER_SECONDS * 1000)
        return sock

    def disconnect(self) -> None:
        if self._sftp is not None:
            self._sftp.close()
            self._sftp = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def _transport(self) -> paramiko.Transport:
        transport = self._client.get_transport() if self._client else None
        if transport is None or not transport.is_active():
            raise ConnectionLost(f"connection to {self.name} is closed")
        return transport

    def _client_transport_active(self) -> bool:
        transport = self._client.get_transport() if self._client else None
        return transport is not None and transport.is_active()

    def run_shell_command(self, command: StringCommand, args: CommandArgs) -> CommandOutput:
        wrapped = make_unix_command(command, args).get_raw_value()
        try:
            channel = self._transport().open_session(timeout=DEAD_PEER_SECONDS)
        except _LOST as exc:
            raise ConnectionLost(f"connection to {self.name} lost: {exc}") from None
        try:
            if args.get_pty:
                channel.get_pty()
            channel.exec_command(wrapped)
            self._send_stdin(channel, args.stdin_bytes())
            return args.hide_passwords(self._collect(channel, args.timeout))
        except (CommandTimeout, ConnectionLost):
            raise
        except _LOST as exc:
            raise ConnectionLost(f"connection to {self.name} lost: {exc}") from None
        finally:
            channel.close()

    @staticmethod
    def _send_stdin(channel: paramiko.Channel, data: bytes | None) -> None:
        """Write stdin, then EOF as pyinfra does, so a command that reads stdin ends."""
        if data:
            channel.sendall(data)
        channel.shutdown_write()

    def _collect(self, channel: paramiko.Channel, timeout: float | None) -> CommandOutput:
        stdout, stderr = io.BytesIO(), io.BytesIO()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            while channel.recv_ready():
                stdout.write(channel.recv(65536))
            while channel.recv_stderr_ready():
                stderr.write(channel.recv_stderr(65536))
            # sshd may send the exit status before the last output and EOF: done only when
            # both have arrived (a closed channel has nothing more either).
            if (
                channel.exit_status_ready()
                and (channel.eof_received or channel.closed)
                and not (channel.recv_ready() or channel.recv_stderr_ready())
            ):
                break
            if channel.closed and not channel.exit_status_ready():
                raise ConnectionLost(f"connection to {self.name} lost during a command")
            wait = 0.5
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise CommandTimeout(f"timed out after {timeout}s")
                wait = min(wait, remaining)
            if not self._transport().is_active():
                raise ConnectionLost(f"connection to {self.name} lost during a command")
            if channel.eof_received:
                # No data follows EOF, and paramiko keeps the channel's fileno readable from
                # EOF on: select would return at once, and this thread would spin (holding
                # the GIL the transport threads need) until the exit status arrives.
                channel.status_event.wait(wait)
            else:
                select.select([channel], [], [], wait)
        status = channel.recv_exit_status()
        if status == -1 and not self._client_transport_active():
            # paramiko reports -1 when the channel closed without an exit status: the
            # connection went away mid-command (sshd killed, link reset), not a failing command.
            raise ConnectionLost(f"connection to {self.name} lost during a command")
        return CommandOutput(
            status,
            split_lines(stdout.getvalue()),
            split_lines(stderr.getvalue()),
        )

    def _sftp_client(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            try:
                self._sftp = paramiko.SFTPClient.from_transport(self._transport())
            except _LOST as exc:
                raise ConnectionLost(f"sftp to {self.name} failed: {exc}") from None
            if self._sftp is None:
                raise ConnectionLost(f"sftp to {self.name} is not available")
        return self._sftp

    def _upload(self, data: bytes, dest: str) -> None:
        with self._sftp_lock:
            try:
                self._sftp_client().putfo(io.BytesIO(data), dest)
            except OSError:
                raise
            except _LOST as exc:
                raise ConnectionLost(f"upload to {self.name} failed: {exc}") from None

    def put_file(self, data: bytes, dest: str, args: CommandArgs) -> None:
        if self._privileged(args):
            self._put_file_through_shell(lambda tmp: self._upload(data, tmp), dest, args)
        else:
            self._upload(data, dest)

    def get_file(self, path: str, args: CommandArgs) -> bytes:
        if self._privileged(args):
            return self._get_file_through_shell(path, args)
        with self._sftp_lock:
            buffer = io.BytesIO()
            try:
                self._sftp_client().getfo(path, buffer)
            except FileNotFoundError:
                raise
            except OSError as exc:
                if getattr(exc, "errno", None) == 2:
                    raise FileNotFoundError(path) from None
                raise
            return buffer.getvalue()
