"""`from pyinfra import local` inside deploy code: `local.include` and `local.shell`."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from typing import Any

from agent.engine.context import current_host
from agent.engine.errors import DeployError


def include(filename: str, data: Mapping[str, Any] | None = None) -> None:
    """Run another deploy file here, for the current host (see DeployCode.include)."""
    host = current_host()
    assert host.run.code is not None
    host.run.code.include(host, filename, data)


def shell(
    commands: str | list[str],
    splitlines: bool = False,
    ignore_errors: bool = False,
    print_output: bool = False,
    print_input: bool = False,
) -> str | list[str]:
    """Run commands on the machine running pullinfra, in the project root, as pyinfra's
    `local.shell` runs them on the controller. Output is returned, never printed."""
    code = current_host().run.code
    assert code is not None
    lines: list[str] = []
    for command in [commands] if isinstance(commands, str) else commands:
        done = subprocess.run(
            command, shell=True, cwd=code.project_root, capture_output=True, text=True
        )
        if done.returncode != 0 and not ignore_errors:
            raise DeployError(
                f"local.shell: {command!r} failed with exit code {done.returncode}:"
                f" {done.stderr.strip()[-500:]}",
                fix="fix the command, or pass ignore_errors=True",
            )
        lines.extend(done.stdout.splitlines())
    return lines if splitlines else "\n".join(lines)
