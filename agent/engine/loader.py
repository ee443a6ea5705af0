"""Deploy files: compiled once per run in setup, executed once per host in prepare."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import CodeType
from typing import Any

from agent.compat.importer import deploy_builtins
from agent.engine.callsite import format_location
from agent.engine.errors import DeployError


@dataclass(frozen=True)
class DeployFile:
    index: int
    path: str  # absolute; also the filename in the code object, to find its frames
    directory: Path
    code: CodeType


def compile_deploy_files(paths: Sequence[str | os.PathLike[str]]) -> tuple[DeployFile, ...]:
    """Compile every deploy file up front, so a syntax error stops the run before connecting."""
    if not paths:
        raise DeployError("no deploy file given", fix="pass at least one deploy .py file")
    compiled = []
    for index, given in enumerate(paths):
        path = Path(given).resolve()
        if not path.is_file():
            raise DeployError(
                f"deploy file {given} does not exist", fix="check the path of the deploy file"
            )
        filename = str(path)
        try:
            code = compile(path.read_text(), filename, "exec")
        except SyntaxError as exc:
            raise DeployError(
                f"syntax error: {exc.msg}",
                where=format_location(filename, exc.lineno or 0),
                fix="correct the Python syntax of the deploy file",
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise DeployError(f"cannot read deploy file: {exc}", where=filename) from None
        compiled.append(DeployFile(index, filename, path.parent, code))
    return tuple(compiled)


def exec_deploy_file(deploy: DeployFile) -> None:
    namespace: dict[str, Any] = {
        "__builtins__": deploy_builtins(),
        "__file__": deploy.path,
        "__name__": "__pullinfra_deploy__",
    }
    exec(deploy.code, namespace)
