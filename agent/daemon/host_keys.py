"""The daemon's host key rules: refuse unknown keys unless the config says otherwise.

`pullinfra apply` trusts a host on first contact, as pyinfra does, because a person watches
the run. The agent runs unattended, so a first contact is a window for a man in the middle:
it knows a key only from the files the operator named ([ssh] known_hosts on this machine,
[ssh] repo_known_hosts in the commit being applied) and from its own file in the state dir,
which holds only keys accepted while [ssh] accept_new_host_keys was true
(docs/operator-guide.md, "Host keys").
"""

from __future__ import annotations

from pathlib import Path

from agent.config.models import SSHConfig
from agent.engine.connectors.host_keys import ACCEPT_NEW, REFUSE_UNKNOWN, HostKeyPolicy
from agent.engine.errors import UserError

KNOWN_HOSTS_FILENAME = "known_hosts"


def host_key_policy(ssh: SSHConfig, state_dir: Path, checkout: Path) -> HostKeyPolicy:
    """The policy for one run of the commit exported at `checkout`."""
    trusted: list[Path] = []
    if ssh.known_hosts is not None:
        trusted.append(ssh.known_hosts)
    if ssh.repo_known_hosts is not None:
        trusted.append(_in_commit(checkout, ssh.repo_known_hosts))
    return HostKeyPolicy(
        strict=ACCEPT_NEW if ssh.accept_new_host_keys else REFUSE_UNKNOWN,
        known_hosts_file=state_dir / KNOWN_HOSTS_FILENAME,
        trusted_files=tuple(trusted),
        advice=_advice(ssh),
    )


def _in_commit(checkout: Path, relative: str) -> Path:
    """The repository's file; one that is missing or points outside the commit fails the run
    before any host is touched, rather than refusing every host for an unclear reason."""
    path = checkout / relative
    where = f"[ssh] repo_known_hosts = {relative!r}"
    if not path.is_file():
        raise UserError(f"{relative} is not a file in this commit", where,
                        "commit the hosts' known_hosts file there, or fix the path")
    if not path.resolve().is_relative_to(checkout.resolve()):
        raise UserError(f"{relative} points outside the repository", where,
                        "commit the file itself, not a link to it")
    return path


def _advice(ssh: SSHConfig) -> str:
    local = str(ssh.known_hosts) if ssh.known_hosts else "a file named by [ssh] known_hosts"
    repo = (f"{ssh.repo_known_hosts} in the repository" if ssh.repo_known_hosts
            else "a repository file named by [ssh] repo_known_hosts")
    return (f"add it to {local} or to {repo}, or set [ssh] accept_new_host_keys = true"
            " to accept keys on first contact")
