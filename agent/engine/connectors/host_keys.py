"""What a connection does with a host key it does not know: an input of the run.

pyinfra records a host seen for the first time in ~/.ssh/known_hosts and refuses a changed
key; `pullinfra apply` keeps that, since a person is watching. A caller that runs unattended
(the daemon) passes a `HostKeyPolicy` that refuses unknown keys, names its own file and the
files it trusts, and says how to make a key known (docs/architecture.md, "Host keys").
The host's data (`ssh_strict_host_key_checking`, `ssh_known_hosts_file`) and the ssh_config
file still win over the policy, as they win over pyinfra's defaults.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

# OpenSSH's StrictHostKeyChecking values the engine acts on.
REFUSE_UNKNOWN = "yes"
ACCEPT_NEW = "accept-new"
ACCEPT_ANY = "no"


@dataclass(frozen=True)
class HostKeyPolicy:
    """The host key rules for hosts whose data and ssh_config say nothing."""

    strict: str = ACCEPT_NEW
    # Where keys are looked up first and new ones recorded; None: ~/.ssh/known_hosts.
    known_hosts_file: Path | None = None
    # Read as well, never written: keys someone vouched for.
    trusted_files: tuple[Path, ...] = ()
    # Ends the refusal of an unknown key: how the operator makes it known.
    advice: str | None = None


PYINFRA = HostKeyPolicy()


class UnknownHostKey(paramiko.SSHException):
    """The host is not in known_hosts and the policy says refuse: trying again cannot help."""


class RefuseUnknown(paramiko.MissingHostKeyPolicy):
    def __init__(self, reason: str) -> None:
        self.reason = reason

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: Any) -> None:
        raise UnknownHostKey(f"host key of {hostname} not known; {self.reason}")


class AcceptNew(paramiko.MissingHostKeyPolicy):
    """Record a host seen for the first time; a changed key is still refused by paramiko."""

    def __init__(self, known_hosts_file: Path | None) -> None:
        self.known_hosts_file = known_hosts_file

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: Any) -> None:
        client.get_host_keys().add(hostname, key.get_name(), key)
        if self.known_hosts_file is None:
            return
        # ~/.ssh is created as OpenSSH creates it: the owner's alone.
        self.known_hosts_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        line = f"{hostname} {key.get_name()} {key.get_base64()}\n"
        fd = os.open(self.known_hosts_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


def missing_key_policy(
    strict: str, known_hosts_files: tuple[Path, ...], reason: str
) -> paramiko.MissingHostKeyPolicy:
    """paramiko's answer to an unknown key; new keys go to the first file."""
    if strict == REFUSE_UNKNOWN:
        return RefuseUnknown(reason)
    if strict == ACCEPT_ANY:
        return paramiko.AutoAddPolicy()
    return AcceptNew(known_hosts_files[0])


def refusal_reason(
    from_data: bool, from_config: bool, policy: HostKeyPolicy, files: tuple[Path, ...]
) -> str:
    """Why an unknown key is refused: the setting that said so, or the policy's advice."""
    where = ", ".join(str(f) for f in files)
    if from_data:
        return f"it is not in {where} (ssh_strict_host_key_checking is yes)"
    if from_config or policy.advice is None:
        return f"it is not in {where} (StrictHostKeyChecking is yes)"
    return f"it is not in {where}; {policy.advice}"
