"""What every connector offers, and how a command is wrapped for the remote shell.

The wrapping mirrors pyinfra's make_unix_command (env, chdir, sudo, su, shell) so deploy code
written for pyinfra sends the same shell text.
"""

from __future__ import annotations

import abc
import base64
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.engine.command import QuoteString, StringCommand


class ConnectError(Exception):
    """The host could not be reached or refused us; it is reported as unreachable."""


class ConnectionLost(Exception):
    """The connection broke while the run was using it."""


class CommandTimeout(Exception):
    """A command ran longer than its `_timeout`."""


@dataclass(frozen=True)
class CommandArgs:
    sudo: bool = False
    sudo_user: str | None = None
    su_user: str | None = None
    env: Mapping[str, Any] | None = None
    chdir: str | None = None
    shell_executable: str | None = "sh"
    timeout: float | None = None
    success_exit_codes: Sequence[int] = (0,)

    @classmethod
    def from_globals(cls, args: Mapping[str, Any]) -> CommandArgs:
        codes = args.get("_success_exit_codes") or (0,)
        if isinstance(codes, int):
            codes = (codes,)
        return cls(
            sudo=bool(args.get("_sudo")),
            sudo_user=args.get("_sudo_user"),
            su_user=args.get("_su_user"),
            env=args.get("_env"),
            chdir=args.get("_chdir"),
            shell_executable=args.get("_shell_executable", "sh"),
            timeout=args.get("_timeout"),
            success_exit_codes=tuple(codes),
        )


@dataclass
class CommandOutput:
    exit_code: int
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ShellOutput:
    """A command's output under pyinfra's names, for deploy code written for pyinfra that
    calls `host.run_shell_command` from a python.call callback. Stdout and stderr are read
    apart, so `output_lines` is stdout then stderr, not their interleaving."""

    stdout_lines: list[str]
    stderr_lines: list[str]

    @property
    def stdout(self) -> str:
        return "\n".join(self.stdout_lines)

    @property
    def stderr(self) -> str:
        return "\n".join(self.stderr_lines)

    @property
    def output_lines(self) -> list[str]:
        return self.stdout_lines + self.stderr_lines

    @property
    def output(self) -> str:
        return "\n".join(self.output_lines)


def make_unix_command(command: StringCommand | str, args: CommandArgs) -> StringCommand:
    """Wrap a command in export/cd/sudo/su/shell, in pyinfra's order."""
    cmd = command if isinstance(command, StringCommand) else StringCommand(command)
    if args.env:
        exports: list[Any] = ["export"]
        for key, value in args.env.items():
            exports.append(QuoteString(StringCommand(key, value, separator="=")))
        cmd = StringCommand(*exports, "&&", cmd)
    if args.chdir:
        cmd = StringCommand("cd", QuoteString(args.chdir), "&&", cmd)

    bits: list[Any] = []
    if args.sudo:
        bits += ["sudo", "-H", "-n"]
        if args.sudo_user:
            bits += ["-u", QuoteString(args.sudo_user)]
    if args.su_user:
        bits += ["su", QuoteString(args.su_user), "-c"]
        if args.shell_executable:
            bits.append(QuoteString(StringCommand(args.shell_executable, "-c", QuoteString(cmd))))
        else:
            bits.append(QuoteString(cmd))
    elif args.shell_executable:
        bits += [args.shell_executable, "-c", QuoteString(cmd)]
    else:
        bits.append(cmd)
    return StringCommand(*bits)


def split_lines(data: bytes) -> list[str]:
    return data.decode("utf-8", errors="replace").splitlines()


class Connector(abc.ABC):
    """One long-lived connection to one host for the whole run."""

    @abc.abstractmethod
    def connect(self) -> None: ...

    @abc.abstractmethod
    def disconnect(self) -> None: ...

    @abc.abstractmethod
    def run_shell_command(
        self, command: StringCommand, args: CommandArgs
    ) -> CommandOutput: ...

    @abc.abstractmethod
    def put_file(self, data: bytes, dest: str, args: CommandArgs) -> None: ...

    @abc.abstractmethod
    def get_file(self, path: str, args: CommandArgs) -> bytes:
        """The file's bytes; FileNotFoundError when it does not exist."""

    def _privileged(self, args: CommandArgs) -> bool:
        return bool(args.sudo or args.su_user)

    def _get_file_through_shell(self, path: str, args: CommandArgs) -> bytes:
        """Read a file as the sudo/su user: the transfer channel logs in as the SSH user."""
        out = self.run_shell_command(
            StringCommand("test -f", QuoteString(path), "&& base64 <", QuoteString(path)), args
        )
        if out.exit_code != 0:
            raise FileNotFoundError(path)
        return base64.b64decode("".join(out.stdout))

    def _put_file_through_shell(
        self, upload: Callable[[str], None], dest: str, args: CommandArgs
    ) -> None:
        """Upload to a temp file as the login user, then copy it into place as sudo/su user."""
        tmp = f"/tmp/pullinfra-{uuid.uuid4().hex}"
        upload(tmp)
        try:
            out = self.run_shell_command(
                StringCommand("cp", QuoteString(tmp), QuoteString(dest)), args
            )
        finally:
            self.run_shell_command(StringCommand("rm -f", QuoteString(tmp)), CommandArgs())
        if out.exit_code != 0:
            raise OSError(f"could not write {dest}: {' '.join(out.stderr)[-500:]}")
