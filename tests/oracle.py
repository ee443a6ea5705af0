"""Real pyinfra, the differential oracle, in a venv of its own (`.venv-oracle`).

pullinfra's own venv never holds pyinfra: pyinfra pins its own paramiko and friends, and a
test venv that contained it would test a dependency set that users never get. Tests that
compare against real pyinfra run it as a subprocess of this venv's python, from
`requirements/oracle.lock` (installed by `scripts/bootstrap.sh` for the tests).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ORACLE_VENV = Path(os.environ.get("PULLINFRA_ORACLE_VENV", ROOT / ".venv-oracle"))
ORACLE_PYTHON = ORACLE_VENV / "bin" / "python"
ORACLE_BIN = ORACLE_VENV / "bin"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_oracle() -> Path:
    """The oracle's python; in CI a missing oracle fails the test, elsewhere it skips."""
    if ORACLE_PYTHON.exists():
        return ORACLE_PYTHON
    reason = f"real pyinfra's venv {ORACLE_VENV} is missing: run scripts/bootstrap.sh"
    if IN_CI:
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def run_oracle(script: str, args: Sequence[str] = (), *, cwd: str | os.PathLike | None = None,
               timeout: float = 120) -> subprocess.CompletedProcess:
    """Run python source `script` in the oracle venv; raise with its stderr when it fails."""
    python = require_oracle()
    proc = subprocess.run([str(python), "-c", script, *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, env=_oracle_env())
    if proc.returncode != 0:
        raise AssertionError(f"real pyinfra failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def oracle_json(script: str, args: Sequence[str] = (), **kwargs) -> object:
    """run_oracle, reading the JSON document the script prints on stdout."""
    return json.loads(run_oracle(script, args, **kwargs).stdout)


def _oracle_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONNOUSERSITE"] = "1"
    return env
