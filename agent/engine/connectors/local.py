"""@local: commands run on this machine through /bin/sh, as pyinfra's local connector does."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from pathlib import Path

from agent.engine.command import StringCommand
from agent.engine.connectors.base import (
    CommandArgs,
    CommandOutput,
    CommandTimeout,
    Connector,
    make_unix_command,
    split_lines,
)


class LocalConnector(Connector):
    def connect(self) -> None:
        return None

    def disconnect(self) -> None:
        return None

    def run_shell_command(self, command: StringCommand, args: CommandArgs) -> CommandOutput:
        """`_get_pty` is accepted and has no effect here, as with pyinfra's local connector."""
        wrapped = make_unix_command(command, args).get_raw_value()
        stdin = args.stdin_bytes()
        process = subprocess.Popen(
            ["/bin/sh", "-c", wrapped],
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            stdout, stderr = process.communicate(stdin, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise CommandTimeout(f"timed out after {args.timeout}s") from None
        output = CommandOutput(process.returncode, split_lines(stdout), split_lines(stderr))
        return args.hide_passwords(output)

    def put_file(self, data: bytes, dest: str, args: CommandArgs) -> None:
        if self._privileged(args):
            self._put_privileged(data, dest, args)
            return
        target = Path(dest)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            if target.exists():
                os.chmod(tmp, target.stat().st_mode & 0o7777)
            else:
                os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _put_privileged(self, data: bytes, dest: str, args: CommandArgs) -> None:
        def upload(tmp: str) -> None:
            Path(tmp).write_bytes(data)
            Path(tmp).chmod(0o644)

        self._put_file_through_shell(upload, dest, args)

    def get_file(self, path: str, args: CommandArgs) -> bytes:
        if self._privileged(args):
            return self._get_file_through_shell(path, args)
        return Path(path).read_bytes()
