"""Real pyinfra, the differential oracle, in a venv of its own (`.venv-oracle`).

pullinfra's own venv never holds pyinfra: pyinfra pins its own paramiko and friends, and a
test venv that contained it would test a dependency set that users never get. Tests that
compare against real pyinfra run it as a subprocess of this venv's python, from
`requirements/oracle.lock` (installed by `scripts/bootstrap.sh` for the tests).

Tests of the other direction (a process that uses pullinfra's engine and also imports a
`pyinfra` of its own) cannot have real pyinfra in pullinfra's venv either, so they use the
stand-in package of `write_standin_pyinfra` in a subprocess of pullinfra's python instead.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
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
               timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    """Run python source `script` in the oracle venv; raise with its stderr when it fails.

    check=False returns a failed run too, for tests that expect real pyinfra to refuse.
    """
    return _run_oracle(["-c", script, *args], cwd=cwd, timeout=timeout, check=check)


def run_oracle_file(path: str | os.PathLike, args: Sequence[str] = (), *,
                    cwd: str | os.PathLike | None = None, timeout: float = 120,
                    check: bool = True) -> subprocess.CompletedProcess:
    """run_oracle for a script file (its tracebacks then name the file's lines)."""
    return _run_oracle([str(path), *args], cwd=cwd, timeout=timeout, check=check)


def oracle_json(script: str, args: Sequence[str] = (), **kwargs) -> object:
    """run_oracle, reading the JSON document the script prints on stdout."""
    return json.loads(run_oracle(script, args, **kwargs).stdout)


def oracle_env() -> dict[str, str]:
    """The environment for real pyinfra: nothing that would put the checkout on its path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def _run_oracle(argv: Sequence[str], *, cwd: str | os.PathLike | None, timeout: float,
                check: bool) -> subprocess.CompletedProcess:
    # -I (isolated): neither the working directory nor the script's directory goes on
    # sys.path, so an oracle run from the checkout cannot import pullinfra's `agent` and
    # answer with pullinfra's behaviour instead of pyinfra's. Scripts that need a project
    # on the path (deploy helper modules) add it themselves, as pyinfra's CLI does.
    python = require_oracle()
    proc = subprocess.run([str(python), "-I", *argv], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, env=oracle_env())
    if check and proc.returncode != 0:
        raise AssertionError(f"real pyinfra failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def jsonable(value: object) -> object:
    """A fact value as plain JSON data, the same in the oracle and in pullinfra's process.

    Its source is also run inside the oracle (JSONABLE_SOURCE), so both sides of a
    comparison are converted by one definition: sets and datetimes never compare equal by
    accident of two conversions. Datetimes are tagged so they never equal a plain string.
    """
    import datetime

    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((jsonable(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, datetime.datetime | datetime.date):
        return {"datetime": value.isoformat()}
    json.dumps(value)  # anything else must already be JSON (TypeError names what is not)
    return value


JSONABLE_SOURCE = "import json\n\n" + inspect.getsource(jsonable)


def as_json(value: object) -> object:
    """`value` as the oracle's JSON would bring it back (tuples become lists, and so on)."""
    return json.loads(json.dumps(jsonable(value)))


# ---- a stand-in `pyinfra`, for "pullinfra's engine beside another pyinfra" in one process

STANDIN_MARK = "pullinfra-test-stand-in"
STANDIN_FILES = {
    "pyinfra": "pyinfra/__init__.py",
    "pyinfra.operations": "pyinfra/operations/__init__.py",
    "pyinfra.operations.files": "pyinfra/operations/files.py",
}
STANDIN_MODULES = tuple(STANDIN_FILES)


def write_standin_pyinfra(root: Path) -> Path:
    """A package named `pyinfra` under root (returned, for PYTHONPATH), marked STANDIN_MARK.

    Each of its modules appends its name to root/imports.log when imported, so a test sees
    every import of it, in whichever process, not only the ones it made itself.
    """
    log = root / "imports.log"
    for name, relative in STANDIN_FILES.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        host = "\n\nclass _Host:\n    STANDIN = STANDIN\n\n\nhost = _Host()\n"
        path.write_text(
            f"STANDIN = {STANDIN_MARK!r}\n"
            f"with open({str(log)!r}, 'a') as _log:\n"
            "    _log.write(__name__ + '\\n')\n"
            + (host if name == "pyinfra" else "")
        )
    return root


def standin_imports(root: Path) -> list[str]:
    """The stand-in modules imported so far (in any process), in import order."""
    log = root / "imports.log"
    return log.read_text().split() if log.exists() else []


def pullinfra_env(*pythonpath: str | os.PathLike) -> dict[str, str]:
    """Environment for a subprocess of pullinfra's python: the checkout, then `pythonpath`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *map(str, pythonpath)])
    return env


BESIDE_STANDIN = r"""
import json, sys
from agent.compat import run_deploy
from agent.engine.run import RunOptions

when, inventory, *deploys = sys.argv[1:]
def loaded():
    return sorted(m for m in sys.modules if m == "pyinfra" or m.startswith("pyinfra."))

if when == "before":
    import pyinfra as early
before = loaded()
result = run_deploy(inventory, deploys, RunOptions())
after_run = loaded()
import pyinfra
from pyinfra import host
from pyinfra.operations import files
json.dump({
    "failed": {h.name: h.error for h in result.hosts if h.name in result.failed_hosts},
    "operations": [op.name for op in result.operations],
    "loaded_before_run": before,
    "loaded_after_run": after_run,
    "pyinfra": [pyinfra.__name__, pyinfra.__file__, vars(pyinfra).get("STANDIN")],
    "host": vars(type(host)).get("STANDIN"),
    "files": [files.__name__, vars(files).get("STANDIN")],
    "is_sys_modules_entry": sys.modules["pyinfra"] is pyinfra,
    "kept_early_import": when != "before" or early is pyinfra,
}, sys.stdout)
"""


def run_beside_standin(standin: Path, inventory: Path, *deploys: Path, when: str,
                       cwd: Path, timeout: float = 120) -> dict:
    """Run deploys through pullinfra's library in a process whose `pyinfra` is the stand-in.

    when="before": the process imported the stand-in before the run; "after": only after.
    Returns what the process saw (see BESIDE_STANDIN); a failing process raises.
    """
    assert when in ("before", "after"), when
    # -P keeps the working directory off sys.path, as it is for the `pullinfra` script: there
    # a project's plain directories (lib/) would be importable as namespace packages, and
    # the loader rightly leaves those to Python.
    proc = subprocess.run(
        [sys.executable, "-P", "-c", BESIDE_STANDIN, when, str(inventory), *map(str, deploys)],
        capture_output=True, text=True, cwd=cwd, timeout=timeout, env=pullinfra_env(standin),
    )
    if proc.returncode != 0:
        raise AssertionError(f"pullinfra beside the stand-in failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


def assert_standin_untouched(seen: dict, standin: Path, when: str) -> None:
    """What every BESIDE_STANDIN run must show: the run never used or replaced the stand-in,
    and the process's own `import pyinfra` (before or after the run) got the stand-in."""
    early = ["pyinfra"] if when == "before" else []
    assert seen["loaded_before_run"] == early, seen
    assert seen["loaded_after_run"] == early, f"the run imported `pyinfra` itself: {seen}"
    assert seen["pyinfra"] == ["pyinfra", str(standin / "pyinfra" / "__init__.py"),
                               STANDIN_MARK], seen
    assert seen["host"] == STANDIN_MARK, seen
    assert seen["files"] == ["pyinfra.operations.files", STANDIN_MARK], seen
    assert seen["is_sys_modules_entry"] and seen["kept_early_import"], seen
    assert standin_imports(standin) == list(STANDIN_MODULES), standin_imports(standin)
