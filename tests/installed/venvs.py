"""pullinfra as users install it: a wheel, in a clean venv, with only its runtime dependencies.

Three dependency sets are built here from the same wheel:
- `locked`: requirements/runtime.lock, what the README commands install;
- `newest`: the newest versions pyproject.toml's ranges allow today (next month's users);
- `lowest`: the lowest versions of the direct dependencies the ranges allow.
The test venv itself is never used to run pullinfra here: it holds test tools besides.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from packaging.markers import Marker

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_LOCK = ROOT / "requirements" / "runtime.lock"
PYPROJECT = ROOT / "pyproject.toml"
UV = Path(sys.executable).with_name("uv")
# What the wheel is built from: the package and the files its metadata reads.
WHEEL_SOURCES = ("agent", "pyproject.toml", "README.md")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)(?:\s*;\s*([^\\\n]+))?", re.M)


class InstallError(RuntimeError):
    """A build, resolve or install step failed; the message holds its output."""


def _run(argv: list[str], *, cwd: Path | None = None, timeout: float = 600) -> str:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise InstallError(f"{' '.join(argv)} failed ({proc.returncode}):\n"
                           f"{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return proc.stdout


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(requirements: str) -> dict[str, str]:
    """{normalised name: version} of the `name==version` lines that apply to this Python.

    A universal lock also pins what only other platforms install (`; sys_platform ==
    'win32'`): such lines are left out, as pip leaves them out.
    """
    return {normalise(name): version for name, version, marker in _PIN.findall(requirements)
            if not marker or Marker(marker.strip()).evaluate()}


def build_wheel(dest: Path) -> Path:
    """The wheel of the working tree, built from a copy so the tree gets no build files."""
    source = dest / "source"
    source.mkdir(parents=True)
    for name in WHEEL_SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, source / name)
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dest), str(source)])
    (wheel,) = dest.glob("pullinfra-*.whl")
    return wheel


def resolve(dest: Path, resolution: str, *, preferences: Path | None = None,
            upgrade: str | None = None, constraint: str | None = None) -> Path:
    """A requirements file of exact pins for the ranges of pyproject.toml, written by uv.

    resolution: "highest" (the newest releases) or "lowest-direct". With `preferences` (a
    lock), its versions are kept except for `upgrade` (a package taken to its newest) and
    `constraint` (a requirement such as "paramiko==3.4.0" forced on top).
    """
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / "requirements.txt"
    argv = [str(UV), "pip", "compile", "--quiet", "--no-header", "--python-version",
            f"{sys.version_info.major}.{sys.version_info.minor}", "--resolution", resolution,
            str(PYPROJECT), "-o", str(out)]
    if preferences is not None:
        shutil.copy(preferences, out)  # uv keeps the pins of an existing output file
    if upgrade:
        argv += ["--upgrade-package", upgrade]
    if constraint:
        constraints = dest / "constraints.txt"
        constraints.write_text(constraint + "\n")
        argv += ["-c", str(constraints)]
    _run(argv)
    return out


def make_venv(dest: Path, lock: Path, wheel: Path) -> Path:
    """A new venv holding exactly `lock` (hashes checked) and the wheel, installed by pip as
    the README does; its bin/ directory."""
    if dest.exists():
        shutil.rmtree(dest)
    _run([sys.executable, "-m", "venv", str(dest)])
    pip = str(dest / "bin" / "pip")
    _run([pip, "install", "-q", "--no-deps", "--require-hashes", "-r", str(lock)])
    _run([pip, "install", "-q", "--no-deps", str(wheel)])
    _run([pip, "check"])
    return dest / "bin"


def make_scratch_venv(dest: Path, requirements: Path, wheel: Path) -> Path:
    """make_venv's result, installed by uv: the same files in seconds, for venvs that are
    made many times over (the upstream checks try one package at a time)."""
    if dest.exists():
        shutil.rmtree(dest)
    _run([str(UV), "venv", "--quiet", "--python", sys.executable, str(dest)])
    python = ["--python", str(dest / "bin" / "python")]
    _run([str(UV), "pip", "install", "--quiet", *python, "--no-deps", "-r", str(requirements),
          str(wheel)])
    _run([str(UV), "pip", "check", "--quiet", *python])
    return dest / "bin"


_DISTRIBUTIONS = ("import importlib.metadata as m, json; print(json.dumps("
                  "{d.metadata['Name']: d.version for d in m.distributions()}))")


def installed(bin_dir: Path) -> dict[str, str]:
    """{normalised name: version} of every distribution in the venv but pip's own tools and
    pullinfra itself."""
    listing = json.loads(_run([str(bin_dir / "python"), "-c", _DISTRIBUTIONS]))
    return {normalise(name): version for name, version in listing.items()
            if normalise(name) not in ("pip", "setuptools", "wheel", "pullinfra")}


def differences(new: Mapping[str, str], old: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """{name: (new version, old version or "-")} of what differs between two pin sets."""
    return {name: (version, old.get(name, "-")) for name, version in sorted(new.items())
            if old.get(name) != version}
