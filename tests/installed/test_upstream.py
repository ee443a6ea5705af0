"""The next upstream break, caught before users meet it: the smoke scenarios against the
newest versions pyproject.toml's ranges allow today, and against the lowest ones.

The lock (requirements/runtime.lock) keeps the README's installs reproducible; a user who
runs `pip install pullinfra` gets whatever the ranges allow instead. When a scenario fails
here, every package that differs from the lock is tried alone (the lock, plus that one
package moved) to name the package and the version that broke; the failure says which, and
whether the fix is a range bound or a code change.

Packages newer than the lock that pass are reported as a warning, so a CI log shows when
the lock is worth refreshing (`bash scripts/lock.sh --upgrade`).
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

from tests.installed.smoke import SCENARIOS, Smoke
from tests.installed.venvs import (
    RUNTIME_LOCK,
    differences,
    installed,
    make_scratch_venv,
    normalise,
    pins,
    resolve,
)

DIRECT = ("gitpython", "apscheduler", "paramiko", "cryptography", "prometheus-client",
          "pydantic-settings", "jinja2")


def _run_scenarios(bin_dir: Path, names: Sequence[str], bed, hosts, work: Path
                   ) -> dict[str, str]:
    """{scenario name: failure text} for the named scenarios run with bin_dir's pullinfra."""
    failures: dict[str, str] = {}
    for name in names:
        scenario, needed = SCENARIOS[name]
        bed.reset(list(hosts))
        folder = work / normalise(name.replace(" ", "-"))
        shutil.rmtree(folder, ignore_errors=True)
        try:
            scenario(Smoke(bin_dir / "pullinfra", hosts[:needed], folder))
        except Exception as exc:  # a scenario's own failure, whatever its type
            failures[name] = _gist(f"{type(exc).__name__}: {exc}")
    return failures


def _gist(text: str) -> str:
    """The first line (what was asserted) and the last lines (the error itself) of a failure."""
    lines = text.strip().splitlines()
    if len(lines) <= 12:
        return "\n".join(lines)
    return "\n".join([lines[0], "      ...", *lines[-10:]])


def _culprits(moved: Mapping[str, tuple[str, str]], failing: Sequence[str],
              one_moved: Callable[[str, str, Path], Path], wheel: Path, bed, hosts,
              work: Path) -> dict[str, dict[str, str]]:
    """{package: its failures} for each package that breaks a scenario when moved alone."""
    found: dict[str, dict[str, str]] = {}
    for package, (version, _) in moved.items():
        folder = work / f"alone-{package}"
        requirements = one_moved(package, version, folder)
        bin_dir = make_scratch_venv(folder / "venv", requirements, wheel)
        failures = _run_scenarios(bin_dir, failing, bed, hosts, folder)
        if failures:
            found[package] = failures
    return found


def _verdict(kind: str, moved: Mapping[str, tuple[str, str]],
             failures: Mapping[str, str], culprits: Mapping[str, Mapping[str, str]]) -> str:
    if culprits:
        lines = [f"the {kind} versions our ranges allow break pullinfra:"]
        for package, broken in culprits.items():
            version, locked = moved[package]
            lines.append(f"  {package} {version} (locked: {locked}) breaks "
                         + "; ".join(broken))
            lines += [f"    {name}: " + text.replace("\n", "\n      ")
                      for name, text in broken.items()]
    else:
        lines = [f"the {kind} versions our ranges allow break pullinfra, and no single"
                 " package does alone; these differ from the lock: "
                 + ", ".join(f"{p} {v} (locked: {lk})" for p, (v, lk) in moved.items())]
        lines += [f"    {name}: " + text.replace("\n", "\n      ")
                  for name, text in failures.items()]
    fix = ("bound the range in pyproject.toml (or fix the code), then bash scripts/lock.sh"
           if kind == "newest" else "raise the lower bound in pyproject.toml (or fix the code)")
    return "\n".join([*lines, f"  what to do: {fix}"])


def _check(kind: str, requirements: Path, one_moved: Callable[[str, str, Path], Path],
           wheel: Path, bed, hosts, work: Path, only_direct: bool) -> dict[str, tuple]:
    """Run every scenario on `requirements`; fail naming the culprits. What moved."""
    bin_dir = make_scratch_venv(work / "venv", requirements, wheel)
    moved = differences(installed(bin_dir), pins(RUNTIME_LOCK.read_text()))
    failures = _run_scenarios(bin_dir, list(SCENARIOS), bed, hosts, work)
    if failures:
        suspects = {p: v for p, v in moved.items() if p in DIRECT or not only_direct}
        culprits = _culprits(suspects, list(failures), one_moved, wheel, bed, hosts, work)
        pytest.fail(_verdict(kind, moved, failures, culprits), pytrace=False)
    return moved


# Building a venv per suspect takes a while when a check fails; a pass takes about a minute.
@pytest.mark.timeout(1200)
def test_newest_allowed_versions_pass_the_smoke(wheel, bed, bed_hosts, tmp_path):
    hosts = bed_hosts(2)
    newest = resolve(tmp_path / "newest", "highest")

    def one_moved(package: str, version: str, folder: Path) -> Path:
        return resolve(folder, "highest", preferences=RUNTIME_LOCK, upgrade=package)

    moved = _check("newest", newest, one_moved, wheel, bed, hosts, tmp_path, only_direct=False)
    newer = {p: v for p, v in moved.items() if v[1] != "-"}
    if newer:
        warnings.warn("newer than requirements/runtime.lock, and passing the smoke: "
                      + ", ".join(f"{p} {v} (locked: {lk})" for p, (v, lk) in newer.items())
                      + "; refresh with bash scripts/lock.sh --upgrade", stacklevel=1)


@pytest.mark.timeout(1200)
def test_lowest_allowed_versions_pass_the_smoke(wheel, bed, bed_hosts, tmp_path):
    """The lower bounds are honest: the oldest direct dependencies they admit work too."""
    hosts = bed_hosts(2)
    lowest = resolve(tmp_path / "lowest", "lowest-direct")

    def one_moved(package: str, version: str, folder: Path) -> Path:
        return resolve(folder, "highest", preferences=RUNTIME_LOCK,
                       constraint=f"{package}=={version}")

    moved = _check("lowest", lowest, one_moved, wheel, bed, hosts, tmp_path, only_direct=True)
    assert moved, "the lowest resolution equals the lock: the lower bounds are not tested"
