"""One long-lived `sh` per host, fed batches of commands: the remote-shell protocol.

Opening an SSH session channel costs a round trip before the command starts, and costs the
host a new sshd session process and a login shell. pyinfra pays that for every fact and
every command. Here one `sh` is started per host and stays; a batch of commands is written
to its stdin as one script, and it answers each with a marker line on stdout and on stderr,
so N commands cost one round trip and N forks on the host, not N channels.

The protocol, for command i of a batch (the token is random per shell, so no command output
can forge a marker):

    (eval '<command as make_unix_command wraps it>') </dev/null; __rc=$?
    printf '\\n<token>:<i>:%s\\n' "$__rc"; printf '\\n<token>:<i>\\n' >&2

- The subshell keeps `cd`, `exit`, `export` and even a syntax error from reaching the
  long-lived shell; `</dev/null` keeps a command from reading the script that follows.
- Each marker starts with a newline of its own, which is taken off again, so output without
  a final newline is read back exactly.
- With `stop_after_failure`, a command that changes the host runs only while no earlier one
  in the batch failed (its marker then says `skip`); fact reads always run, because reading
  the host after a failure is still a true read of it.

Commands that need what a shared shell cannot give (a pty, stdin, a timeout that must end
the command) are not sent here: `fits_shell` says which, and the connector runs those on a
channel of their own. See docs/architecture.md, "Round trips".
"""

from __future__ import annotations

import base64
import dataclasses
import secrets
import shlex
from collections.abc import Sequence

from agent.engine.command import QuoteString, StringCommand
from agent.engine.connectors.base import (
    CommandArgs,
    CommandOutput,
    ShellRequest,
    make_unix_command,
    split_lines,
)

# What the SSH session channel runs. `exec` leaves no login shell between sshd and sh.
SHELL_COMMAND = "exec /bin/sh"
SKIPPED = "skip"


def fits_shell(args: CommandArgs) -> bool:
    """False for what only a channel of its own can do: a pty, stdin, or a timeout that
    must end the command (closing a channel is how a timed-out command is let go)."""
    return not (args.get_pty or args.timeout is not None or args.stdin_bytes() is not None)


class ShellProtocolError(Exception):
    """The shell's answer does not follow the protocol; the shell cannot be trusted on."""


class BatchScript:
    """The script for one batch and how to read the shell's answer to it."""

    def __init__(
        self,
        token: str,
        first_index: int,
        requests: Sequence[ShellRequest],
        stop_after_failure: bool,
        greet: bool = False,
    ) -> None:
        self.token = token
        self.indexes = range(first_index, first_index + len(requests))
        self.requests = list(requests)
        self.stop_after_failure = stop_after_failure
        self.greet = greet

    def text(self) -> bytes:
        lines = []
        if self.greet:
            ready = f"'\\n{self.token}:ready\\n'"
            lines.append(f"printf {ready}; printf {ready} >&2")
        lines.append("__pf=0")
        for index, request in zip(self.indexes, self.requests, strict=True):
            lines.append(self._command_line(request))
            lines.append(
                f"printf '\\n{self.token}:{index}:%s\\n' \"$__rc\";"
                f" printf '\\n{self.token}:{index}\\n' >&2"
            )
        return ("\n".join(lines) + "\n").encode()

    def _command_line(self, request: ShellRequest) -> str:
        wrapped = make_unix_command(request.command, _in_this_shell(request.args)).get_raw_value()
        run = f"(eval {shlex.quote(wrapped)}) </dev/null; __rc=$?"
        if request.reads_only or not self.stop_after_failure:
            return run
        codes = "|".join(str(int(code)) for code in request.args.success_exit_codes) or "0"
        return (
            f'if [ "$__pf" = 0 ]; then {run}; case "$__rc" in {codes}) ;; *) __pf=1;; esac;'
            f" else __rc={SKIPPED}; fi"
        )

    # -- reading the answer ----------------------------------------------------------------

    def complete(self, stdout: bytes, stderr: bytes, out_from: int = 0, err_from: int = 0) -> bool:
        """Both streams hold the last command's marker line, whole. The search starts near
        `*_from`, where the previous search ended, so a batch that prints megabytes is not
        rescanned per chunk, and output a background process adds later cannot hide it."""
        last = self.indexes[-1] if self.requests else "ready"
        out_marker = f"\n{self.token}:{last}:" if self.requests else f"\n{self.token}:ready"
        err_marker = f"\n{self.token}:{last}\n".encode()
        out_at = stdout.find(out_marker.encode(), max(0, out_from - len(out_marker) - 16))
        if out_at < 0 or stdout.find(b"\n", out_at + len(out_marker)) < 0:
            return False
        return stderr.find(err_marker, max(0, err_from - len(err_marker))) >= 0

    def split(self, stdout: bytes, stderr: bytes) -> list[CommandOutput | None]:
        """Each command's output; None for a command the batch skipped after a failure."""
        if self.greet:
            stdout = _after(stdout, f"\n{self.token}:ready\n".encode())
            stderr = _after(stderr, f"\n{self.token}:ready\n".encode())
        outputs: list[CommandOutput | None] = []
        out_at = err_at = 0
        for index in self.indexes:
            out_marker = f"\n{self.token}:{index}:".encode()
            out_end = stdout.find(out_marker, out_at)
            line_end = stdout.find(b"\n", out_end + len(out_marker))
            err_marker = f"\n{self.token}:{index}\n".encode()
            err_end = stderr.find(err_marker, err_at)
            if out_end < 0 or line_end < 0 or err_end < 0:
                raise ShellProtocolError(f"no marker for command {index}")
            status = stdout[out_end + len(out_marker):line_end].decode("ascii", "replace")
            if status == SKIPPED:
                outputs.append(None)
            else:
                try:
                    code = int(status)
                except ValueError:
                    raise ShellProtocolError(f"bad exit status {status!r}") from None
                outputs.append(
                    CommandOutput(
                        code,
                        split_lines(stdout[out_at:out_end]),
                        split_lines(stderr[err_at:err_end]),
                    )
                )
            out_at = line_end + 1
            err_at = err_end + len(err_marker)
        return outputs


def shell_upload(data: bytes, dest: str, mode: str | None) -> StringCommand:
    """Write `data` to `dest` in place, as an sftp upload does (same inode, so the file
    keeps its owner and mode), then chmod when the upload names a mode."""
    encoded = base64.b64encode(data).decode("ascii")
    write = StringCommand(
        "printf", "%s", QuoteString(encoded), "|", "base64 -d >", QuoteString(dest)
    )
    if not mode:
        return write
    return StringCommand(write, "&&", "chmod", QuoteString(mode), QuoteString(dest))


SMALL_FILE_FOLLOWS = "__pullinfra_small_file__"
SMALL_FILE_MISSING = "__pullinfra_no_file__"


def read_small_file(path: str, max_bytes: int) -> StringCommand:
    """Print SMALL_FILE_FOLLOWS and the file in base64 when it is a regular file of at most
    `max_bytes`, SMALL_FILE_MISSING when nothing is there, and nothing else otherwise."""
    quoted = QuoteString(path)
    return StringCommand(
        "if ! test -e", quoted, "&& ! test -L", quoted, "; then echo", SMALL_FILE_MISSING,
        "; elif test -f", quoted, "&& test", f'"$(wc -c <{shlex.quote(path)})"', "-le",
        str(max_bytes), "; then echo", SMALL_FILE_FOLLOWS, "&& base64 <", quoted, "; fi",
    )


def runs_in_this_shell(args: CommandArgs) -> bool:
    """A command for plain `sh`, as the login user, runs in the subshell itself: `sh -c`
    inside it would cost the host one more exec for the same shell, environment and
    directory. Its text then never becomes any process's argv."""
    return args.shell_executable == "sh" and not (
        args.sudo or args.su_user or args.doas or args.dzdo
    )


def _in_this_shell(args: CommandArgs) -> CommandArgs:
    return dataclasses.replace(args, shell_executable=None) if runs_in_this_shell(args) else args


def _after(data: bytes, marker: bytes) -> bytes:
    at = data.find(marker)
    if at < 0:
        raise ShellProtocolError("the shell never said it was ready")
    return data[at + len(marker):]


def new_token() -> str:
    return f"pullinfra-{secrets.token_hex(12)}"
