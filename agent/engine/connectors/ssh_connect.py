"""Opening an authenticated SSH connection: everything up to a logged-in paramiko client.

This is kept apart from the connector (ssh.py) because it is a pipeline of its own, with
its own rules and failure modes, and none of it needs a connected host: the host's ssh_*
data is read once into `ConnectOptions`; `resolve_target` merges it with the ssh_config
file into a `Target`; `open_client` finds a route (socket, ProxyCommand or ProxyJump
hosts), logs in and turns paramiko's errors into `ConnectError`s, raising `Transient` for
those worth another try, so the connector's retry loop knows what to do.

Host keys follow OpenSSH's StrictHostKeyChecking: `yes` refuses unknown hosts, `accept-new`
records unknown hosts and refuses changed keys, `no` accepts anything. Where the host's data
and the ssh_config say nothing, the run's `HostKeyPolicy` decides (host_keys.py): pyinfra's
`accept-new` for `pullinfra apply`, `yes` for the daemon.

The name a host is reached by goes through the ssh_config file (`ssh_config_file`, else
~/.ssh/config when it exists, as pyinfra does): HostName, User, Port, IdentityFile,
UserKnownHostsFile, ProxyCommand and ProxyJump apply where the host's data does not say.
Host data wins over the config, and `ssh_paramiko_connect_kwargs` wins over both.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paramiko
from paramiko.agent import AgentClientProxy

from agent.engine.connectors.base import ConnectError
from agent.engine.connectors.host_keys import (
    ACCEPT_ANY,
    PYINFRA,
    HostKeyPolicy,
    UnknownHostKey,
    missing_key_policy,
    refusal_reason,
)
from agent.engine.connectors.key_files import KeyFiles, copy_host_entries
from agent.engine.connectors.ssh_config import (
    Hop,
    HostSettings,
    SSHConfigError,
    SSHConfigFile,
    read_config,
)
from agent.engine.connectors.ssh_keys import load_private_key

# What paramiko and the socket layer raise when a connection is gone or cannot be used.
CONNECTION_ERRORS = (paramiko.SSHException, EOFError, OSError, socket.error)
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


class Transient(ConnectError):
    """A connect failure worth another try (refused, timed out, reset, banner not sent)."""


def _choice(value: Any, default: bool) -> bool:
    return default if value is None else bool(value)


def _number(value: Any, default: float) -> float:
    return default if value is None else float(value)


@dataclass(frozen=True)
class ConnectOptions:
    """A host's ssh_* data, read once when the connector is made.

    Values the data leaves out stay None where the ssh_config file or a default decides
    later (`port`, `strict`, `allow_agent`, ...): each connect try reads the config afresh.
    """

    config_name: str  # the name looked up in the ssh config (ssh_hostname, else the host's)
    port: int | None
    user: str | None
    password: str | None
    key: str | None
    key_password: str | None
    strict: str | None
    known_hosts_file: Path
    known_hosts_given: bool  # ssh_known_hosts_file was set: it wins over UserKnownHostsFile
    connect_timeout: float
    allow_agent: bool | None
    look_for_keys: bool | None
    forward_agent: bool | None
    config_file: str | None
    retries: int
    retry_min_delay: float
    retry_max_delay: float
    paramiko_kwargs: Mapping[str, Any]
    # Shared by the run's connectors (key_files.py); None reads the files for this host.
    key_files: KeyFiles | None = field(default=None, compare=False, repr=False)
    # Where the data and the ssh_config say nothing (host_keys.py).
    host_keys: HostKeyPolicy = PYINFRA

    @classmethod
    def from_data(
        cls, name: str, data: Mapping[str, Any], host_keys: HostKeyPolicy = PYINFRA
    ) -> ConnectOptions:
        data_port = data.get("ssh_port")
        known_option = data.get("ssh_known_hosts_file")
        if known_option:
            known_file = Path(os.path.expanduser(known_option))
        else:
            known_file = host_keys.known_hosts_file or Path(
                os.path.expanduser("~/.ssh/known_hosts")
            )
        retry_min_delay = _number(data.get("ssh_connect_retry_min_delay"), DEFAULT_RETRY_MIN_DELAY)
        return cls(
            config_name=str(data.get("ssh_hostname") or name),
            port=int(data_port) if data_port else None,
            user=data.get("ssh_user"),
            password=data.get("ssh_password"),
            key=data.get("ssh_key"),
            key_password=data.get("ssh_key_password"),
            strict=data.get("ssh_strict_host_key_checking"),
            known_hosts_file=known_file,
            known_hosts_given=bool(known_option),
            connect_timeout=float(data.get("ssh_connect_timeout") or 10),
            allow_agent=data.get("ssh_allow_agent"),
            look_for_keys=data.get("ssh_look_for_keys"),
            forward_agent=data.get("ssh_forward_agent"),
            config_file=data.get("ssh_config_file"),
            retries=int(data.get("ssh_connect_retries") or DEFAULT_CONNECT_RETRIES),
            retry_min_delay=retry_min_delay,
            retry_max_delay=max(
                retry_min_delay,
                _number(data.get("ssh_connect_retry_max_delay"), DEFAULT_RETRY_MAX_DELAY),
            ),
            paramiko_kwargs=dict(data.get("ssh_paramiko_connect_kwargs") or {}),
            host_keys=host_keys,
        )


@dataclass(frozen=True)
class Target:
    """Where one connection goes and how it logs in, config and data already merged."""

    label: str  # the name as configured, for messages
    hostname: str
    port: int
    user: str | None
    strict: str
    known_hosts_files: tuple[Path, ...]  # new keys are recorded in the first
    timeout: float
    settings: HostSettings
    unknown_key_reason: str = ""  # why an unknown key is refused, when strict is yes


def resolve_target(options: ConnectOptions) -> tuple[SSHConfigFile | None, Target]:
    """Read the ssh_config file and merge it with the host's data; a bad config is final."""
    try:
        config = read_config(options.config_file)
        settings = (
            config.settings(options.config_name) if config else HostSettings(options.config_name)
        )
    except SSHConfigError as exc:
        raise ConnectError(str(exc)) from None
    port = options.port if options.port is not None else (settings.port or 22)
    if "port" in options.paramiko_kwargs:
        port = int(options.paramiko_kwargs["port"])
    if options.known_hosts_given:
        known: tuple[Path, ...] = (options.known_hosts_file,)
    elif settings.known_hosts_files:
        known = tuple(Path(p) for p in settings.known_hosts_files)
    else:
        known = (options.known_hosts_file,)
    policy = options.host_keys
    known = _with_trusted(known, policy)
    target = Target(
        label=options.config_name,
        hostname=settings.hostname,
        port=port,
        user=options.user or settings.user,
        strict=options.strict or settings.strict_host_key_checking or policy.strict,
        known_hosts_files=known,
        timeout=options.connect_timeout,
        settings=settings,
        unknown_key_reason=refusal_reason(
            bool(options.strict), bool(settings.strict_host_key_checking), policy, known
        ),
    )
    return config, target


def _with_trusted(known: tuple[Path, ...], policy: HostKeyPolicy) -> tuple[Path, ...]:
    """The files of the host or config, then the policy's trusted ones (once each)."""
    return known + tuple(path for path in policy.trusted_files if path not in known)


def open_client(
    options: ConnectOptions, config: SSHConfigFile | None, target: Target
) -> tuple[paramiko.SSHClient, list[paramiko.SSHClient]]:
    """Log in to the target: its client, and the ProxyJump hops' clients, first hop first.

    On failure every hop opened so far is closed again. A refused, timed-out or reset
    connect raises `Transient`; a refused login, a changed or unknown host key, or an
    unreadable key raises a plain `ConnectError`.
    """
    pkey = None
    if options.key:
        pkey = _private_key(options, os.path.expanduser(str(options.key)), options.key_password)
    if pkey is None:
        pkey = _identity(options, target.settings, options.key_password)
    no_explicit_auth = options.key is None and options.password is None
    auth = {
        "password": options.password,
        "pkey": pkey,
        "allow_agent": _choice(options.allow_agent, no_explicit_auth),
        "look_for_keys": _choice(options.look_for_keys, no_explicit_auth),
    }
    jumps: list[paramiko.SSHClient] = []
    try:
        sock = options.paramiko_kwargs.get("sock") or _open_route(
            options, config, target, jumps, 0
        )
        client = _login(target, sock, auth, options.paramiko_kwargs, None, options.key_files)
    except BaseException:
        for jump in reversed(jumps):
            jump.close()
        raise
    return client, jumps


def wants_agent_forwarding(options: ConnectOptions, target: Target) -> bool:
    """`ssh_forward_agent` when the data says, else the config's ForwardAgent."""
    if options.forward_agent is None:
        return bool(target.settings.forward_agent)
    return bool(options.forward_agent)


def start_agent_forwarding(
    client: paramiko.SSHClient, name: str, timeout: float, proxies: list[AgentClientProxy]
) -> paramiko.Channel:
    """Open the session that asks for agent forwarding; keep it open as long as the client.

    Each agent channel sshd opens later is joined to the local agent and added to `proxies`.
    """
    transport = client.get_transport()
    try:
        if transport is None:
            raise paramiko.SSHException("the connection closed")
        session = transport.open_session(timeout=timeout)
        _forward_agent(session, proxies)
    except CONNECTION_ERRORS as exc:
        raise ConnectError(f"agent forwarding to {name} failed: {exc}") from None
    return session


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


def _hop_target(
    config: SSHConfigFile | None, hop: Hop, target: Target, policy: HostKeyPolicy
) -> Target:
    """A jump host: its config entry, and the target's host key settings where it has none."""
    try:
        settings = config.settings(hop.host) if config else HostSettings(hop.host)
    except SSHConfigError as exc:
        raise ConnectError(str(exc)) from None
    own = tuple(Path(p) for p in settings.known_hosts_files)
    return Target(
        label=hop.host,
        hostname=settings.hostname,
        port=hop.port or settings.port or 22,
        user=hop.user or settings.user,
        strict=settings.strict_host_key_checking or target.strict,
        known_hosts_files=_with_trusted(own, policy) if own else target.known_hosts_files,
        timeout=settings.connect_timeout or target.timeout,
        settings=settings,
        unknown_key_reason=target.unknown_key_reason,
    )


def _private_key(options: ConnectOptions, path: str, password: str | None) -> paramiko.PKey:
    if options.key_files is None:
        return load_private_key(path, password)
    return options.key_files.private_key(path, password)


def _identity(
    options: ConnectOptions, settings: HostSettings, password: str | None
) -> paramiko.PKey | None:
    """The first IdentityFile that exists and loads; the others are skipped, as in pyinfra."""
    for name in settings.identity_files:
        path = os.path.expanduser(name)
        if not os.path.isfile(path):
            continue
        try:
            return _private_key(options, path, password)
        except ConnectError:
            continue
    return None


def _open_route(
    options: ConnectOptions,
    config: SSHConfigFile | None,
    target: Target,
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
        return _through_jumps(options, config, target, jumps, depth)
    return _open_socket(target.hostname, target.port, target.timeout)


def _through_jumps(
    options: ConnectOptions,
    config: SSHConfigFile | None,
    target: Target,
    jumps: list[paramiko.SSHClient],
    depth: int,
) -> paramiko.Channel:
    """Log in to each ProxyJump host in turn; each opens a direct-tcpip channel to the next.

    The first hop is reached by its own config (so it may have a ProxyJump of its own, as
    with OpenSSH); the others are reached through the hop before them. Jump hosts log in
    with their own IdentityFile, the agent and ~/.ssh keys, never the target's password or
    key.
    """
    if depth >= MAX_JUMP_DEPTH:
        raise ConnectError(
            f"ProxyJump for {target.label} nests more than {MAX_JUMP_DEPTH} deep: a loop?"
            " (write `ProxyJump none` for the jump host itself)"
        )
    hops = [
        _hop_target(config, hop, target, options.host_keys)
        for hop in target.settings.proxy_jump
    ]
    sock: Any = None
    for index, hop in enumerate(hops):
        if sock is None:
            sock = _open_route(options, config, hop, jumps, depth + 1)
        auth = {
            "pkey": _identity(options, hop.settings, None),
            "allow_agent": _choice(options.allow_agent, True),
            "look_for_keys": _choice(options.look_for_keys, True),
        }
        client = _login(hop, sock, auth, {}, hop.label, options.key_files)
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
        except CONNECTION_ERRORS as exc:
            raise Transient(
                f"jump host {hop.label} cannot reach"
                f" {following.hostname}:{following.port}: {exc or type(exc).__name__}"
            ) from None
    return sock


def _login(
    target: Target,
    sock: Any,
    auth: Mapping[str, Any],
    extra: Mapping[str, Any],
    jump: str | None,
    key_files: KeyFiles | None,
) -> paramiko.SSHClient:
    """One SSH login over `sock`, with paramiko's errors said in the host's terms."""
    where = f"jump host {jump}: " if jump else ""
    client = paramiko.SSHClient()
    if target.strict != ACCEPT_ANY:
        for known in target.known_hosts_files:
            if not known.is_file():
                continue
            try:
                _load_host_keys(client, known, target, key_files)
            except (OSError, paramiko.SSHException) as exc:
                client.close()
                raise ConnectError(f"{where}cannot read {known}: {exc}") from None
    client.set_missing_host_key_policy(
        missing_key_policy(target.strict, target.known_hosts_files, target.unknown_key_reason)
    )
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
            f" if that is expected, remove its line from"
            f" {' or '.join(str(f) for f in target.known_hosts_files if f.is_file())}"
        ) from None
    except UnknownHostKey as exc:
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
        raise Transient(f"{where}{exc}") from None
    except (OSError, EOFError) as exc:
        client.close()
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise Transient(
            f"{where}cannot connect to {target.hostname}:{target.port}: {reason}"
        ) from None
    transport = client.get_transport()
    if transport is not None:
        transport.set_keepalive(KEEPALIVE_SECONDS)
    return client


def _load_host_keys(
    client: paramiko.SSHClient, known: Path, target: Target, key_files: KeyFiles | None
) -> None:
    """This target's lines of `known`: all of them parsed once per run when shared."""
    if key_files is None:
        client.get_host_keys().load(str(known))
        return
    name = target.hostname if target.port == 22 else f"[{target.hostname}]:{target.port}"
    copy_host_entries(key_files.host_keys(known), name, client.get_host_keys())


def _open_socket(hostname: str, port: int, timeout: float) -> socket.socket:
    """TCP with TCP_NODELAY: otherwise Nagle + delayed ACK add ~40 ms to every command."""
    try:
        sock = socket.create_connection((hostname, port), timeout=timeout)
    except OSError as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise Transient(f"cannot connect to {hostname}:{port}: {reason}") from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    if hasattr(socket, "TCP_USER_TIMEOUT"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, DEAD_PEER_SECONDS * 1000)
    return sock
