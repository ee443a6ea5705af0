"""SSH through paramiko: one transport per host for the whole run, one long-lived shell on it.

This module is the connected connector's work: running batches of commands through one
long-lived remote shell (shell.py has the protocol), running what a shared shell cannot do
(a pty, stdin, a timeout) on a channel of its own (stdin, then EOF; output collected until
both the exit status and EOF arrived), files over sftp, and disconnecting. How the
connection is opened (ssh_config, host keys, ProxyJump and ProxyCommand, login errors,
agent forwarding) is ssh_connect.py's job; the connector only reads its options once and
calls it again after a transient failure, as `ssh_connect_retries` allows.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import io
import random
import select
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import paramiko
from paramiko.agent import AgentClientProxy

from agent.engine.command import FileUploadCommand, StringCommand
from agent.engine.connectors.base import (
    CommandArgs,
    CommandOutput,
    CommandTimeout,
    ConnectError,
    ConnectionLost,
    Connector,
    ShellRequest,
    make_unix_command,
    split_lines,
)
from agent.engine.connectors.host_keys import PYINFRA, HostKeyPolicy
from agent.engine.connectors.key_files import KeyFiles
from agent.engine.connectors.shell import (
    SHELL_COMMAND,
    SMALL_FILE_FOLLOWS,
    SMALL_FILE_MISSING,
    BatchScript,
    ShellProtocolError,
    fits_shell,
    new_token,
    read_small_file,
    runs_in_this_shell,
    shell_upload,
)
from agent.engine.connectors.ssh_connect import (
    CONNECTION_ERRORS,
    DEAD_PEER_SECONDS,
    ConnectOptions,
    Transient,
    open_client,
    resolve_target,
    start_agent_forwarding,
    wants_agent_forwarding,
)

# What one send() offers the channel: paramiko splits it into packets anyway.
SEND_CHUNK = 32768
# Larger uploads go over sftp, which streams them instead of holding them in a script.
SHELL_UPLOAD_MAX_BYTES = 48 * 1024
# Larger remote files are read over sftp; files.put shows no diff past 512 KiB anyway.
SHELL_READ_MAX_BYTES = 192 * 1024


class SSHConnector(Connector):
    # Between connect tries; a test replaces it to keep time.
    _sleep: Callable[[float], None] = staticmethod(time.sleep)

    def __init__(
        self,
        name: str,
        data: Mapping[str, Any],
        key_files: KeyFiles | None = None,
        host_keys: HostKeyPolicy = PYINFRA,
    ) -> None:
        self.name = name
        self.options = dataclasses.replace(
            ConnectOptions.from_data(name, data, host_keys), key_files=key_files
        )
        # What the config name resolves to, known for sure once connected.
        self.hostname = self.options.config_name
        self.port = self.options.port if self.options.port is not None else 22
        self._client: paramiko.SSHClient | None = None
        self._jumps: list[paramiko.SSHClient] = []  # the ProxyJump hops, first hop first
        self._agent_session: paramiko.Channel | None = None
        self._agent_proxies: list[AgentClientProxy] = []
        self._sftp: paramiko.SFTPClient | None = None
        self._sftp_lock = threading.Lock()
        self._shell: paramiko.Channel | None = None
        self._shell_token = ""
        self._shell_next = 0  # the index of the shell's next command
        self._shell_lock = threading.Lock()

    def connect(self) -> None:
        """Connect, trying again after a transient failure as `ssh_connect_retries` allows.

        As in pyinfra, a refused, timed-out or reset connect is tried again after a random
        pause between `ssh_connect_retry_min_delay` and `..._max_delay`; a refused login, a
        changed or unknown host key, or an unreadable key is final at once.
        """
        options = self.options
        tries_left = options.retries
        while True:
            try:
                self._connect_once()
                return
            except Transient as exc:
                if tries_left <= 0:
                    tried = f" (tried {options.retries + 1} times)" if options.retries else ""
                    raise ConnectError(f"{exc}{tried}") from None
                tries_left -= 1
                self._sleep(random.uniform(options.retry_min_delay, options.retry_max_delay))

    def _connect_once(self) -> None:
        config, target = resolve_target(self.options)
        self.hostname, self.port = target.hostname, target.port
        self._client, self._jumps = open_client(self.options, config, target)
        if wants_agent_forwarding(self.options, target):
            try:
                self._agent_session = start_agent_forwarding(
                    self._client, self.name, self.options.connect_timeout, self._agent_proxies
                )
            except ConnectError:
                self.disconnect()
                raise

    def disconnect(self) -> None:
        self._close_shell()
        if self._sftp is not None:
            self._sftp.close()
            self._sftp = None
        for proxy in self._agent_proxies:
            proxy.close()
        self._agent_proxies = []
        if self._agent_session is not None:
            self._agent_session.close()
            self._agent_session = None
        if self._client is not None:
            self._client.close()
            self._client = None
        for jump in reversed(self._jumps):
            jump.close()
        self._jumps = []

    def _transport(self) -> paramiko.Transport:
        transport = self._client.get_transport() if self._client else None
        if transport is None or not transport.is_active():
            raise ConnectionLost(f"connection to {self.name} is closed")
        return transport

    def _client_transport_active(self) -> bool:
        transport = self._client.get_transport() if self._client else None
        return transport is not None and transport.is_active()

    # -- the long-lived shell ---------------------------------------------------------------

    def run_batch(
        self, requests: Sequence[ShellRequest], stop_after_failure: bool
    ) -> list[CommandOutput | None]:
        """One round trip through the long-lived shell when every request fits it."""
        if not requests:
            return []
        if not all(fits_shell(request.args) for request in requests):
            return super().run_batch(requests, stop_after_failure)
        with self._shell_lock:
            greet = self._shell is None
            channel = self._open_shell() if greet else self._shell
            assert channel is not None
            script = BatchScript(
                self._shell_token, self._shell_next, requests, stop_after_failure, greet
            )
            self._shell_next += len(requests)
            try:
                return self._exchange(channel, script)
            except (ConnectionLost, ShellProtocolError, *CONNECTION_ERRORS) as exc:
                self._close_shell()
                raise ConnectionLost(f"connection to {self.name} lost: {exc}") from None

    def _open_shell(self) -> paramiko.Channel:
        try:
            channel = self._transport().open_session(timeout=DEAD_PEER_SECONDS)
            channel.exec_command(SHELL_COMMAND)
        except CONNECTION_ERRORS as exc:
            raise ConnectionLost(f"connection to {self.name} lost: {exc}") from None
        self._shell = channel
        self._shell_token = new_token()
        self._shell_next = 0
        return channel

    def _close_shell(self) -> None:
        with contextlib.suppress(Exception):
            if self._shell is not None:
                self._shell.close()
        self._shell = None

    def _exchange(
        self, channel: paramiko.Channel, script: BatchScript
    ) -> list[CommandOutput | None]:
        """Write the script while reading the answers, so that neither side's window can
        fill up and wait for the other."""
        unsent = memoryview(script.text())
        stdout, stderr = bytearray(), bytearray()
        out_from = err_from = 0
        while True:
            if unsent and channel.send_ready():
                unsent = unsent[channel.send(unsent[:SEND_CHUNK]) :]
            while channel.recv_ready():
                stdout += channel.recv(65536)
            while channel.recv_stderr_ready():
                stderr += channel.recv_stderr(65536)
            if not unsent and script.complete(stdout, stderr, out_from, err_from):
                return script.split(bytes(stdout), bytes(stderr))
            out_from, err_from = len(stdout), len(stderr)
            if not self._transport().is_active():  # a dead link closes the shell too
                raise ConnectionLost(f"connection to {self.name} lost during a command")
            if channel.closed or channel.eof_received or channel.exit_status_ready():
                raise ConnectionLost(f"the shell on {self.name} ended during a command")
            select.select([channel], [channel] if unsent else [], [], 0.5)

    # -- a channel of its own ----------------------------------------------------------------

    def run_shell_command(self, command: StringCommand, args: CommandArgs) -> CommandOutput:
        if fits_shell(args):
            output = self.run_batch([ShellRequest(command, args)], stop_after_failure=False)[0]
            assert output is not None
            return args.hide_passwords(output)
        return self._run_on_channel(command, args)

    def _run_on_channel(self, command: StringCommand, args: CommandArgs) -> CommandOutput:
        wrapped = make_unix_command(command, args).get_raw_value()
        try:
            channel = self._transport().open_session(timeout=DEAD_PEER_SECONDS)
        except CONNECTION_ERRORS as exc:
            raise ConnectionLost(f"connection to {self.name} lost: {exc}") from None
        try:
            if args.get_pty:
                channel.get_pty()
            channel.exec_command(wrapped)
            self._send_stdin(channel, args.stdin_bytes())
            return args.hide_passwords(self._collect(channel, args.timeout))
        except (CommandTimeout, ConnectionLost):
            raise
        except CONNECTION_ERRORS as exc:
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

    def upload_command(self, upload: FileUploadCommand, args: CommandArgs) -> StringCommand | None:
        """A small file goes through the long-lived shell with the round trip's other
        commands; sftp would cost an open, a write, a close and a stat, each a round trip.

        Only as the login user and for plain sh, where the content stays inside the shell:
        under sudo, su or another shell it would be an argument of their command line, which
        every user of the host can read; those go through a temp file (`_temp_dir`).
        """
        if not runs_in_this_shell(args):
            return None
        data = upload.read_bytes()
        if len(data) > SHELL_UPLOAD_MAX_BYTES:
            return None
        return shell_upload(data, upload.dest, upload.mode)

    def _get_small_file(self, path: str, args: CommandArgs) -> bytes | None:
        """A small regular file (files.put's diff) through the shell in one round trip, where
        sftp costs a session and an open, a stat, a read and a close. None for anything
        else (large, not a regular file, unreadable): sftp reads it, or says why not."""
        output = self.run_shell_command(read_small_file(path, SHELL_READ_MAX_BYTES), args)
        if output.exit_code != 0 or not output.stdout:
            return None
        answer, *encoded = output.stdout
        if answer == SMALL_FILE_MISSING:
            raise FileNotFoundError(path)
        if answer != SMALL_FILE_FOLLOWS:
            return None
        return base64.b64decode("".join(encoded))

    def _sftp_client(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            try:
                self._sftp = paramiko.SFTPClient.from_transport(self._transport())
            except CONNECTION_ERRORS as exc:
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
            except CONNECTION_ERRORS as exc:
                raise ConnectionLost(f"upload to {self.name} failed: {exc}") from None

    def put_file(self, data: bytes, dest: str, args: CommandArgs) -> None:
        if self._privileged(args):
            self._put_file_through_shell(lambda tmp: self._upload(data, tmp), dest, args)
        else:
            self._upload(data, dest)

    def get_file(self, path: str, args: CommandArgs) -> bytes:
        if self._privileged(args):
            return self._get_file_through_shell(path, args)
        small = self._get_small_file(path, args)
        if small is not None:
            return small
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
