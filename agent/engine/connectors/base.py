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

from agent.engine.command import FileUploadCommand, QuoteString, StringCommand
from agent.engine.masking import Masker

DEFAULT_TEMP_DIR = "/tmp"


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
    sudo_password: str | None = field(default=None, repr=False)
    use_sudo_login: bool = False
    preserve_sudo_env: bool = False
    su_user: str | None = None
    use_su_login: bool = False
    preserve_su_env: bool = False
    su_shell: str | None = None
    su_password: str | None = field(default=None, repr=False)
    doas: bool = False
    doas_user: str | None = None
    dzdo: bool = False
    dzdo_user: str | None = None
    env: Mapping[str, Any] | None = None
    chdir: str | None = None
    shell_executable: str | None = "sh"
    timeout: float | None = None
    success_exit_codes: Sequence[int] = (0,)
    get_pty: bool = False
    stdin: str | Sequence[str] | None = field(default=None, repr=False)
    temp_dir: str | None = None

    @classmethod
    def from_globals(cls, args: Mapping[str, Any]) -> CommandArgs:
        codes = args.get("_success_exit_codes") or (0,)
        if isinstance(codes, int):
            codes = (codes,)
        return cls(
            sudo=bool(args.get("_sudo")),
            sudo_user=args.get("_sudo_user"),
            sudo_password=args.get("_sudo_password") or None,
            use_sudo_login=bool(args.get("_use_sudo_login")),
            preserve_sudo_env=bool(args.get("_preserve_sudo_env")),
            su_user=args.get("_su_user"),
            use_su_login=bool(args.get("_use_su_login")),
            preserve_su_env=bool(args.get("_preserve_su_env")),
            su_shell=args.get("_su_shell") or None,
            su_password=args.get("_su_password") or None,
            doas=bool(args.get("_doas")),
            doas_user=args.get("_doas_user"),
            dzdo=bool(args.get("_dzdo")),
            dzdo_user=args.get("_dzdo_user"),
            env=args.get("_env"),
            chdir=args.get("_chdir"),
            shell_executable=args.get("_shell_executable", "sh"),
            timeout=args.get("_timeout"),
            success_exit_codes=tuple(codes),
            get_pty=bool(args.get("_get_pty")),
            stdin=_stdin_lines(args.get("_stdin")),
            temp_dir=args.get("_temp_dir") or None,
        )

    @property
    def passwords(self) -> tuple[str, ...]:
        """The passwords this command writes to stdin, in the order the tools read them."""
        found = []
        if self.sudo and self.sudo_password:
            found.append(self.sudo_password)
        if self.su_user and self.su_password:
            found.append(self.su_password)
        return tuple(found)

    def stdin_bytes(self) -> bytes | None:
        """What the command's stdin receives: each password on its own line (sudo -S and su
        read one line each), then `_stdin`. None when there is nothing to write."""
        lines = [*self.passwords, *(self.stdin or ())]
        if not lines:
            return None
        return "".join(line if line.endswith("\n") else f"{line}\n" for line in lines).encode()

    def hide_passwords(self, output: CommandOutput) -> CommandOutput:
        """A pty echoes what stdin receives, and a NOPASSWD rule leaves the password line to
        the command: either way a password must not come back in the output."""
        if not self.passwords:
            return output
        masker = Masker(self.passwords)
        return CommandOutput(
            output.exit_code,
            [masker(line) for line in output.stdout],
            [masker(line) for line in output.stderr],
        )


def _stdin_lines(value: Any) -> tuple[str, ...] | None:
    """`_stdin` takes what pyinfra takes: a string, a list of lines or a file object."""
    if value is None:
        return None
    if hasattr(value, "readlines"):
        value = value.readlines()
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        return (value,)
    return tuple(str(line) for line in value)


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
    """Wrap a command in export/cd/doas/dzdo/sudo/su/shell, in pyinfra's order.

    A sudo password is not part of the text: `sudo -S -p ''` reads it from stdin
    (`stdin_bytes`), so it never appears in any process's argv; `-k` makes sudo read it
    every time, as a cached credential would leave the line to the command instead.
    """
    cmd = command if isinstance(command, StringCommand) else StringCommand(command)
    if args.env:
        exports: list[Any] = ["export"]
        for key, value in args.env.items():
            exports.append(QuoteString(StringCommand(key, value, separator="=")))
        cmd = StringCommand(*exports, "&&", cmd)
    if args.chdir:
        cmd = StringCommand("cd", QuoteString(args.chdir), "&&", cmd)

    bits: list[Any] = [*_doas_bits(args), *_dzdo_bits(args), *_sudo_bits(args)]
    if args.su_user:
        bits += _su_bits(args)
        if args.shell_executable:
            bits.append(QuoteString(StringCommand(args.shell_executable, "-c", QuoteString(cmd))))
        else:
            bits.append(QuoteString(cmd))
    elif args.shell_executable:
        bits += [args.shell_executable, "-c", QuoteString(cmd)]
    else:
        bits.append(cmd)
    return StringCommand(*bits)


def _doas_bits(args: CommandArgs) -> list[Any]:
    if not args.doas:
        return []
    user = ["-u", QuoteString(args.doas_user)] if args.doas_user else []
    return ["doas", "-n", *user]


def _dzdo_bits(args: CommandArgs) -> list[Any]:
    if not args.dzdo:
        return []
    user = ["-u", QuoteString(args.dzdo_user)] if args.dzdo_user else []
    return ["dzdo", "-H", "-n", *user]


def _sudo_bits(args: CommandArgs) -> list[Any]:
    if not args.sudo:
        return []
    bits: list[Any] = ["sudo", "-H"]
    bits += ["-S", "-p", "''", "-k"] if args.sudo_password else ["-n"]
    if args.use_sudo_login:
        bits.append("-i")
    if args.preserve_sudo_env:
        bits.append("-E")
    if args.sudo_user:
        bits += ["-u", QuoteString(args.sudo_user)]
    return bits


def _su_bits(args: CommandArgs) -> list[Any]:
    bits: list[Any] = ["su"]
    if args.use_su_login:
        bits.append("-l")
    if args.preserve_su_env:
        bits.append("-m")
    if args.su_shell:
        shell = StringCommand("$(command -v ", QuoteString(args.su_shell), ")", separator="")
        bits += ["-s", shell]
    return [*bits, QuoteString(args.su_user), "-c"]


@dataclass(frozen=True)
class ShellRequest:
    """One command of a batch. `reads_only` marks a fact read, which never changes the host
    and so runs even after a failed command of the same batch."""

    command: StringCommand
    args: CommandArgs
    reads_only: bool = False


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

    def run_batch(
        self, requests: Sequence[ShellRequest], stop_after_failure: bool
    ) -> list[CommandOutput | None]:
        """Run the requests in order, in as few round trips as the connector can.

        With `stop_after_failure`, a command that changes the host is skipped (None) once an
        earlier one failed; fact reads always run. This default runs them one by one; the
        SSH connector sends a batch to its long-lived shell in one round trip.
        """
        outputs: list[CommandOutput | None] = []
        failed = False
        for request in requests:
            if failed and stop_after_failure and not request.reads_only:
                outputs.append(None)
                continue
            output = self.run_shell_command(request.command, request.args)
            if not request.reads_only and output.exit_code not in request.args.success_exit_codes:
                failed = True
            outputs.append(output)
        return outputs

    def upload_command(self, upload: FileUploadCommand, args: CommandArgs) -> StringCommand | None:
        """A shell command that makes the upload, where the connector would rather send it
        with the other commands of a round trip than through its own transfer; None here."""
        return None

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
        tmp = f"{(args.temp_dir or DEFAULT_TEMP_DIR).rstrip('/')}/pullinfra-{uuid.uuid4().hex}"
        upload(tmp)
        try:
            out = self.run_shell_command(
                StringCommand("cp", QuoteString(tmp), QuoteString(dest)), args
            )
        finally:
            self.run_shell_command(StringCommand("rm -f", QuoteString(tmp)), CommandArgs())
        if out.exit_code != 0:
            raise OSError(f"could not write {dest}: {' '.join(out.stderr)[-500:]}")
