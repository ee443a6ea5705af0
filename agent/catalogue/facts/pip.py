"""pip facts: the Python distributions a pip (the system's, or a virtualenv's) has installed."""

from __future__ import annotations

import re
from typing import ClassVar

from agent.engine.fact import FactBase

__all__ = ["Pip3Packages", "PipPackages"]

# `pip freeze` prints one `Name==version` line per distribution; editable installs
# (`-e ...`) and direct references (`name @ file://...`) carry no plain version and are left
# out, as pyinfra's fact leaves them out.
_FREEZE_LINE = re.compile(r"^([a-zA-Z0-9_\-\+\.]+)==([0-9\.]+[a-z0-9\-]*)$")


class PipPackages(FactBase[dict[str, set[str]]]):
    """Installed distributions by name as pip spells them, each with its set of versions.
    `pip` names the pip to ask (a virtualenv's `/venv/bin/pip`); a host without it gives
    `{}`. `--all` lists pip and setuptools too, so a deploy can pin those."""

    pip_command: ClassVar[str] = "pip"

    def requires_command(self, pip: str | None = None) -> str:
        return pip or self.pip_command

    def command(self, pip: str | None = None) -> str:
        return f"{pip or self.pip_command} freeze --all"

    def default(self) -> dict[str, set[str]]:
        return {}

    def process(self, output: list[str]) -> dict[str, set[str]]:
        packages: dict[str, set[str]] = {}
        for line in output:
            match = _FREEZE_LINE.match(line)
            if match:
                packages.setdefault(match.group(1), set()).add(match.group(2))
        return packages


class Pip3Packages(PipPackages):
    """PipPackages asked of `pip3`, for hosts whose Python 3 pip has that name."""

    pip_command: ClassVar[str] = "pip3"
