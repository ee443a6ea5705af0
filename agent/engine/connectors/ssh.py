"""SSH through paramiko: one transport per host for the whole run, one channel per command.

Host keys follow OpenSSH's StrictHostKeyChecking: `yes` refuses unknown hosts, `accept-new`
(the default) records unknown hosts and refuses changed keys, `no` accepts anything.

The name a host is reached by goes through the ssh_config file (`ssh_config_file`, else
~/.ssh/config when it exists, as pyinfra does): HostName, User, Port, IdentityFile,
UserKnownHostsFile, ProxyCommand and ProxyJump apply where the host's data does not say.
Host data wins over the config, and `ssh_paramiko_connect_kwargs` wins over both.
"""

from __future__ import annotations

import io
import os
import random
import select
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko
from paramiko.agent import AgentClientProxy

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
from agent.engine.connectors.ssh_config import (
    Hop,
    HostSettings,
    SSHConfigError,
    SSHConfigFile,
    read_config,
)
from agent.engine.connectors.ssh_keys import load_private_key

_LOST = (paramiko.SSHException, EOFError, OSError, socket.error)
# A peer that vanishes (link cut, host powered off) sends no RST; without these the run would
# wait on it for TCP's ~15 minute retransmission limit. SSH keepalives put data in flight
# every KEEPALIVE_SECONDS, and TCP_USER_TIMEOUT drops the connection when it stays unacked.
KEEPALIVE_SECONDS = 5
DEAD_PEER_SECONDS = 20
# pyinfra's defaults: no retry; between tries a random pause in [min, max] seconds.
DEFAULT_CONNECT_RETRIES = 0
DEFAULT_RETRY_MIN_DELAY = 0.1
DEFAULT_RETRY_MAX_DELAY = 0.5
# A ProxyJump host may itself be reached through the config's ProxyJump; this bounds a loop.
MAX_JUMP_DEPTH = 8


def _known_hosts_name(hostname: str, port: int) -> str:
    return hostname if port == 22 else f"[{hostname}]:{port}"


class _UnknownHostKey(paramiko.SSHException):
    """The host is not in known_hosts and the policy says refuse: trying again cannot help."""


class _RefuseUnknownPolicy(paramiko.MissingHostKeyPolicy):
    def __init__(self, known_hosts_file: Path) -> None:
        self.known_hosts_file = known_hosts_file

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: Any) -> None:
        raise _UnknownHostKey(
            f"host key of {hostname} is not in {self.known_hosts_file}"
            " (ssh_strict_host_key_checking is yes)"
        )


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


class _Transient(ConnectError):
    """A connect failure worth another try (refused, timed out, reset, banner not sent)."""


def _choice(value: Any, default: bool) -> bool:
    return default if value is None else bool(value)


def _forward_agent(channel: paramiko.Channel, proxies: list[AgentClientProxy]) -> None:
    """Ask sshd for agent forwarding; each agent channel it opens is joined to the local agent.

    OpenSSH's sshd keeps the forwarded agent for the whole connection once one session asked,
    so the command channels opened later see SSH_AUTH_SOCK. Without a local agent the remote
    request is closed at once instead of raising in a paramiko thread.
    """

    def handler(remote: paramiko.Channel) -> None:
        sock = os.environ.get("SSH_AUTH_SOCK")
        if not sock or not os.path.exists(sock):
            remote.close()
            return
        proxies.append(AgentClientProxy(remote))

    channel.request_forward_agent(handler)


@dataclass(frozen=True)
class _Target:
    """Where one connection goes and how it logs in, config and data already merged."""

    label: str  # the name as configured, for messages
    hostname: str
    port: int
    user: str | None
    strict: str
    known_hosts_files: tuple[Path, ...]
    timeout: float
    settings: HostSettings


def _number(value: Any, default: float) -> float:
    return default if value is None else float(value)


class SSHConnector(Connector):
    # Between connect tries; a test replaces it to keep time.
    _sleep: Callable[[float], None] = staticmethod(time.sleep)

    def __init__(self, name: str, data: Mapping[str, Any]) -> None:
        self.name = name
        # The name looked up in the ssh config; `hostname`/`port` become what it resolves to.
        self.config_name = str(data.get("ssh_hostname") or name)
        self.hostname = self.config_name
        self._data_port = data.get("ssh_port")
        self.port = int(self._data_port or 22)
        self.user = data.get("ssh_user")
        self.password = data.get("ssh_password")
        self.key = data.get("ssh_key")
        self.key_password = data.get("ssh_key_password")
        self._strict_option = data.get("ssh_strict_host_key_checking")
        self.strict = self._strict_option or "accept-new"
        self.connect_timeout = float(data.get("ssh_connect_timeout") or 10)
        self.allow_agent = data.get("ssh_allow_agent")
        self.look_for_keys = data.get("ssh_look_for_keys")
        self.forward_agent = data.get("ssh_forward_agent")
        self.config_file = data.get("ssh_config_file")
        self.retries = int(data.get("ssh_connect_retries") or DEFAULT_CONNECT_RETRIES)
        self.retry_min_delay = _number(
            data.get("ssh_connect_retry_min_delay"), DEFAULT_RETRY_MIN_DELAY
        )
        self.retry_max_delay = max(
            self.retry_min_delay,
            _number(data.get("ssh_connect_retry_max_delay"), DEFAULT_RETRY_MAX_DELAY),
        )
        self.paramiko_kwargs: dict[str, Any] = dict(data.get("ssh_paramiko_connect_kwargs") or {})
        self._known_option = data.get("ssh_known_hosts_file")
        self.known_hosts_file = Path(
            os.path.expanduser(self._known_option or "~/.ssh/known_hosts")
        )
        self._client: paramiko.SSHClient | None = None
        self._jumps: list[paramiko.SSHClient] = []  # the ProxyJump hops, first hop first
        self._agent_session: paramiko.Channel | None = None
        self._agent_proxies: list[AgentClientProxy] = []
        self._sftp: paramiko.SFTPClient | None = None
        self._sftp_lock = threading.Lock()

    def _load_key(self) -> paramiko.PKey | None:
        if not self.key:
            return None
        return load_private_key(os.path.expanduser(str(self.key)), self.key_password)

    @staticmethod
    def _host_key_policy(target: _Target) -> paramiko.MissingHostKeyPolicy:
        first = target.known_hosts_files[0]
        if target.strict == "yes":
            return _RefuseUnknownPolicy(first)
        if target.strict == "no":
            return paramiko.AutoAddPolicy()
        return _AcceptNewPolicy(first)

    def connect(self) -> None:
        """Connect, trying again after a transient failure as `ssh_connect_retries` allows.

        As in pyinfra, a refused, timed-out or reset connect is tried again after a random
        pause between `ssh_connect_retry_min_delay` and `..._max_delay`; a refused login, a
        changed or unknown host key, or an unreadable key is final at once.
        """
        tries_left = self.retries
        while True:
            try:
                self._connect_once()
                return
            except _Transient as exc:
                if tries_left <= 0:
                    tried = f" (tried {self.retries + 1} times)" if self.retries else ""
                    raise ConnectError(f"{exc}{tried}") from None
                tries_left -= 1
                self._sleep(random.uniform(self.retry_min_delay, self.retry_max_delay))

    def _connect_once(self) -> None:
        try:
            config = read_config(self.config_file)
            target = self._target(config)
        except SSHConfigError as exc:
            raise ConnectError(str(exc)) from None
        self.hostname, self.port = target.hostname, target.port
        pkey = self._load_key()
        if pkey is None:
            pkey = self._identity(target.settings, self.key_password)
        no_explicit_auth = self.key is None and self.password is None
        auth = {
            "password": self.password,
            "pkey": pkey,
            "allow_agent": _choice(self.allow_agent, no_explicit_auth),
            "look_for_keys": _choice(self.look_for_keys, no_explicit_auth),
        }
        jumps: list[paramiko.SSHClient] = []
        try:
            sock = self.paramiko_kwargs.get("sock") or self._open_route(config, target, jumps, 0)
            client = self._login(target, sock, auth, self.paramiko_kwargs, jump=None)
        except BaseException:
            for jump in reversed(jumps):
                jump.close()
            raise
        self._client, self._jumps = client, jumps
        forward = self.forward_agent
        if forward is None:
            forward = bool(target.settings.forward_agent)
        if forward:
            self._start_agent_forwarding(client)

    def _target(self, config: SSHConfigFile | None) -> _Target:
        settings = (
            config.settings(self.config_name) if config else HostSettings(self.config_name)
        )
        port = int(self._data_port) if self._data_port else (settings.port or 22)
        if "port" in self.paramiko_kwargs:
            port = int(self.paramiko_kwargs["port"])
        if self._known_option:
            known: tuple[Path, ...] = (self.known_hosts_file,)
        elif settings.known_hosts_files:
            known = tuple(Path(p) for p in settings.known_hosts_files)
        else:
            known = (self.known_hosts_file,)
        return _Target(
            label=self.config_name,
            hostname=settings.hostname,
            port=port,
            user=self.user or settings.user,
            strict=self._strict_option or settings.strict_host_key_checking or "accept-new",
            known_hosts_files=known,
            timeout=self.connect_timeout,
            settings=settings,
        )

    def _hop_target(self, config: SSHConfigFile | None, hop: Hop, target: _Target) -> _Target:
        """A jump host: its config entry, and the target's host key settings where it has none."""
        try:
            settings = config.settings(hop.host) if config else HostSettings(hop.host)
        except SSHConfigError as exc:
            raise ConnectError(str(exc)) from None
        return _Target(
            label=hop.host,
            hostname=settings.hostname,
            port=hop.port or settings.port or 22,
            user=hop.user or settings.user,
            strict=settings.strict_host_key_checking or target.strict,
            known_hosts_files=tuple(Path(p) for p in settings.known_hosts_files)
            or target.known_hosts_files,
            timeout=settings.connect_timeout or target.timeout,
            settings=settings,
        )

    @staticmethod
    def _identity(settings: HostSettings, password: str | None) -> paramiko.PKey | None:
        """The first IdentityFile that exists and loads; the others are skipped, as in pyinfra."""
        for name in settings.identity_files:
            path = os.path.expanduser(name)
            if not os.path.isfile(path):
                continue
            try:
                return load_private_key(path, password)
            except ConnectError:
                continue
        return None

    def _open_route(
        self,
        config: SSHConfigFile | None,
        target: _Target,
        jumps: list[paramiko.SSHClient],
        depth: int,
    ) -> Any:
        """A plain socket, the config's ProxyCommand, or a channel through its ProxyJump hosts."""
        settings = target.settings
        if settings.proxy_command:
            try:
                return paramiko.ProxyCommand(settings.proxy_command)
            except (paramiko.SSHException, OSError) as exc:
                raise ConnectError(f"ProxyCommand for {target.label} failed: {exc}") from None
        if settings.proxy_jump:
            return self._through_jumps(config, target, jumps, depth)
        return self._open_socket(target.hostname, target.port, target.timeout)

    def _through_jumps(
        self,
        config: SSHConfigFile | None,
        target: _Target,
        jumps: list[paramiko.SSHClient],
        depth: int,
    ) -> paramiko.Channel:
        """Log in to each ProxyJump host in turn; each opens a direct-tcpip channel to the next.

        The first hop is reached by its own config (so it may have a ProxyJump of its own, as
        with OpenSSH); the others are reached through the hop before them.
        """
        if depth >= MAX_JUMP_DEPTH:
            raise ConnectError(
                f"ProxyJump for {target.label} nests more than {MAX_JUMP_DEPTH} deep: a loop?"
                " (write `ProxyJump none` for the jump host itself)"
            )
        hops = [self._hop_target(config, hop, target) for hop in target.settings.proxy_jump]
        sock: Any = None
        for index, hop in enumerate(hops):
            if sock is None:
                sock = self._open_route(config, hop, jumps, depth + 1)
            auth = {
                "pkey": self._identity(hop.settings, None),
                "allow_agent": _choice(self.allow_agent, True),
                "look_for_keys": _choice(self.look_for_keys, True),
            }
            client = self._login(hop, sock, auth, {}, jump=hop.label)
            jumps.append(client)
            following = hops[index + 1] if index + 1 < len(hops) else target
            transport = client.get_transport()
            try:
                if transport is None:
                    raise paramiko.SSHException("the connection closed")
                sock = transport.open_channel(
                    "direct-tcpip",
                    (following.hostname, following.port),
                    ("127.0.0.1", 0),
                    timeout=target.timeout,
                )
            except _LOST as exc:
                raise _Transient(
                    f"jump host {hop.label} cannot reach"
                    f" {following.hostname}:{following.port}: {exc or type(exc).__name__}"
                ) from None
        return sock

    def _login(
        self,
        target: _Target,
        sock: Any,
        auth: Mapping[str, Any],
        extra: Mapping[str, Any],
        jump: str | None,
    ) -> paramiko.SSHClient:
        where = f"jump host {jump}: " if jump else ""
        client = paramiko.SSHClient()
        if target.strict != "no":
            for known in target.known_hosts_files:
                if not known.is_file():
                    continue
                try:
                    client.get_host_keys().load(str(known))
                except (OSError, paramiko.SSHException) as exc:
                    client.close()
                    raise ConnectError(f"{where}cannot read {known}: {exc}") from None
        client.set_missing_host_key_policy(self._host_key_policy(target))
        kwargs: dict[str, Any] = {
            "port": target.port,
            "username": target.user,
            "timeout": target.timeout,
            "banner_timeout": target.timeout,
            "auth_timeout": target.timeout,
            **auth,
            **extra,
            "sock": sock,
        }
        try:
            client.connect(target.hostname, **kwargs)
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise ConnectError(
                f"{where}host key for {exc.hostname} changed (got {exc.key.get_name()});"
                f" if that is expected, remove its line from {target.known_hosts_files[0]}"
            ) from None
        except _UnknownHostKey as exc:
            client.close()
            raise ConnectError(f"{where}{exc}") from None
        except paramiko.AuthenticationException:
            client.close()
            user = kwargs.get("username") or "current user"
            raise ConnectError(f"{where}authentication failed as {user}") from None
        except paramiko.SSHException as exc:
            client.close()
            if "no authentication methods" in str(exc).lower():
                raise ConnectError(
                    f"{where}no way to log in as {kwargs.get('username') or 'current user'}:"
                    " no key, password or agent key to offer"
                ) from None
            raise _Transient(f"{where}{exc}") from None
        except (OSError, EOFError) as exc:
            client.close()
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise _Transient(
                f"{where}cannot connect to {target.hostname}:{target.port}: {reason}"
            ) from None
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(KEEPALIVE_SECONDS)
        return client

    def _open_socket(self, hostname: str, port: int, timeout: float) -> socket.socket:
        """TCP with TCP_NODELAY: otherwise Nagle + delayed ACK add ~40 ms to every command."""
        try:
            sock = socket.create_connection((hostname, port), timeout=timeout)
        except OSError as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise _Transient(f"cannot connect to {hostname}:{port}: {reason}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if hasattr(socket, "TCP_USER_TIMEOUT"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, DEAD_PEER_SECONDS * 1000)
        return sock

    def _start_agent_forwarding(self, client: paramiko.SSHClient) -> None:
        transport = client.get_transport()
        try:
            if transport is None:
                raise paramiko.SSHException("the connection closed")
            session = transport.open_session(timeout=self.connect_timeout)
            _forward_agent(session, self._agent_proxies)
        except _LOST as exc:
            self.disconnect()
            raise ConnectError(f"agent forwarding to {self.name} failed: {exc}") from None
        self._agent_session = session

    def disconnect(self) -> None:
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
