"""OpenSSH client config for the SSH connector: what a host name stands for.

paramiko's SSHConfig does the Host/Match matching and the %-token expansion; it does not read
`Include`, so included files are spliced in here first (a path relative to the including
file's directory, as pyinfra reads them). A lookup is turned into the few settings the
connector uses, and a bad value (a port that is not a number, an unknown
StrictHostKeyChecking) becomes an SSHConfigError that names the file and the host.
"""

from __future__ import annotations

import glob
import inspect
import os
import re
from dataclasses import dataclass

import paramiko

DEFAULT_CONFIG_FILE = "~/.ssh/config"
# What ssh_paramiko_connect_kwargs may set: the keyword parameters of the installed paramiko's
# SSHClient.connect (the host name is the connector's to give).
PARAMIKO_CONNECT_PARAMETERS = frozenset(
    name
    for name in inspect.signature(paramiko.SSHClient.connect).parameters
    if name not in ("self", "hostname")
)
_SETTING = re.compile(r"(\w+)(?:\s*=\s*|\s+)(.+)")
# StrictHostKeyChecking values -> the connector's choices. Nothing asks during a run, so
# `ask` refuses an unknown host, as `yes` does.
_STRICT = {"yes": "yes", "ask": "yes", "accept-new": "accept-new", "no": "no", "off": "no"}


class SSHConfigError(ValueError):
    """An ssh_config file that cannot be read, or a host setting in it that makes no sense."""


@dataclass(frozen=True)
class Hop:
    """One ProxyJump entry: `[user@]host[:port]` (or `ssh://[user@]host[:port]`)."""

    host: str
    user: str | None = None
    port: int | None = None


@dataclass(frozen=True)
class HostSettings:
    """The config's answer for one name; None or () where the config says nothing."""

    hostname: str
    user: str | None = None
    port: int | None = None
    identity_files: tuple[str, ...] = ()
    proxy_command: str | None = None
    proxy_jump: tuple[Hop, ...] = ()
    forward_agent: bool | None = None
    strict_host_key_checking: str | None = None
    known_hosts_files: tuple[str, ...] = ()
    connect_timeout: float | None = None


@dataclass(frozen=True)
class SSHConfigFile:
    path: str
    config: paramiko.SSHConfig

    def settings(self, name: str) -> HostSettings:
        try:
            found = self.config.lookup(name)
        except Exception as exc:  # paramiko raises bare exceptions from Match and tokens
            raise SSHConfigError(f"{self.path}: cannot look up {name!r}: {exc}") from None
        return _settings(self.path, name, found)


def read_config(path: str | None) -> SSHConfigFile | None:
    """The config at path; without a path, ~/.ssh/config when it exists (pyinfra reads it too).

    A path given explicitly must exist: a typo would otherwise silently drop the whole config.
    """
    if path is None:
        default = os.path.expanduser(DEFAULT_CONFIG_FILE)
        return _parse(default) if os.path.isfile(default) else None
    expanded = os.path.expanduser(str(path))
    if not os.path.isfile(expanded):
        raise SSHConfigError(f"ssh_config_file {path} does not exist")
    return _parse(expanded)


def _parse(path: str) -> SSHConfigFile:
    config = paramiko.SSHConfig()
    try:
        config.parse(_spliced_lines(path, [path]))
    except paramiko.ConfigParseError as exc:
        raise SSHConfigError(f"{path}: {exc}") from None
    return SSHConfigFile(path, config)


def _spliced_lines(path: str, reading: list[str]) -> list[str]:
    """The file's lines with every `Include` replaced by the lines of the files it names."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SSHConfigError(f"cannot read ssh config {path}: {exc}") from None
    out: list[str] = []
    for line in lines:
        match = _SETTING.match(line.strip())
        if not match or match.group(1).lower() != "include":
            out.append(line)
            continue
        for pattern in match.group(2).split():
            pattern = os.path.expanduser(pattern.strip('"'))
            if not os.path.isabs(pattern):
                pattern = os.path.join(os.path.dirname(path), pattern)
            for included in sorted(glob.glob(pattern)):
                if not os.path.isfile(included):
                    continue
                if included in reading:
                    raise SSHConfigError(f"{path}: Include loop through {included}")
                out.extend(_spliced_lines(included, [*reading, included]))
    return out


def _settings(path: str, name: str, found: paramiko.SSHConfigDict) -> HostSettings:
    def bad(key: str, value: object, want: str) -> SSHConfigError:
        return SSHConfigError(f"{path}: host {name!r}: {key} {value!r} is not {want}")

    port = found.get("port")
    if port is not None:
        if not str(port).isdigit() or not 0 < int(port) < 65536:
            raise bad("Port", port, "a port number")
        port = int(port)
    timeout = found.get("connecttimeout")
    if timeout is not None:
        try:
            timeout = float(timeout)
        except ValueError:
            raise bad("ConnectTimeout", timeout, "a number of seconds") from None
    strict = found.get("stricthostkeychecking")
    if strict is not None:
        if str(strict).lower() not in _STRICT:
            raise bad("StrictHostKeyChecking", strict, f"one of {', '.join(_STRICT)}")
        strict = _STRICT[str(strict).lower()]
    forward = found.get("forwardagent")
    if forward is not None:
        forward = str(forward).lower() == "yes"
    jump = found.get("proxyjump")
    hops: tuple[Hop, ...] = ()
    if jump is not None and str(jump).lower() != "none":
        try:
            hops = tuple(parse_hop(part) for part in str(jump).split(","))
        except ValueError as exc:
            raise bad("ProxyJump", jump, f"[user@]host[:port] ({exc})") from None
    command = found.get("proxycommand")
    identity = found.get("identityfile") or ()
    known = found.get("userknownhostsfile")
    return HostSettings(
        hostname=str(found.get("hostname") or name),
        user=found.get("user"),
        port=port,
        identity_files=tuple(identity) if not isinstance(identity, str) else (identity,),
        proxy_command=command if command and command.lower() != "none" else None,
        proxy_jump=hops,
        forward_agent=forward,
        strict_host_key_checking=strict,
        known_hosts_files=tuple(os.path.expanduser(p) for p in str(known).split())
        if known
        else (),
        connect_timeout=timeout,
    )


def parse_hop(text: str) -> Hop:
    """`[user@]host[:port]`, `ssh://[user@]host[:port]`; an IPv6 address in brackets."""
    text = text.strip()
    if text.startswith("ssh://"):
        text = text[len("ssh://") :].rstrip("/")
    user, _, hostport = text.rpartition("@")
    port: str | None = None
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        if rest.startswith(":"):
            port = rest[1:]
        elif rest:
            raise ValueError(f"unexpected {rest!r} after ]")
    elif hostport.count(":") == 1:
        host, _, port = hostport.partition(":")
    else:
        host = hostport  # a name, or a bare IPv6 address (no port then)
    if not host:
        raise ValueError("no host")
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"port {port!r} is not a port number")
    return Hop(host=host, user=user or None, port=int(port) if port is not None else None)
