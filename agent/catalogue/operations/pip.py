"""pip operations: Python virtualenvs and the packages pip installs, system-wide or in a
virtualenv (which `pip.packages` creates first when it is missing)."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any

from agent.catalogue.facts.files import File
from agent.catalogue.facts.pip import PipPackages
from agent.catalogue.operations import files
from agent.engine.command import Commands, QuoteString, StringCommand
from agent.engine.context import host
from agent.engine.operation import operation
from agent.engine.operation_errors import OperationTypeError, OperationValueError

__all__ = ["packages", "venv", "virtualenv"]


def _check_path(op: str, path: Any) -> str:
    if not isinstance(path, str) or not path.strip():
        raise OperationValueError(
            f"pip.{op} needs the virtualenv's directory, got {path!r}: "
            "pass path='/opt/venv'"
        )
    return path


@operation()
def virtualenv(
    path: str,
    python: str | None = None,
    venv: bool = False,
    site_packages: bool = False,
    always_copy: bool = False,
    present: bool = True,
) -> Commands:
    """Create (or with `present=False` remove) a virtualenv with the `virtualenv` tool, or
    with `venv` the interpreter's own `-m venv`. A directory counts as a virtualenv only once
    its `bin/activate` exists, so an empty or half-made one is created over."""
    path = _check_path("venv" if venv else "virtualenv", path)
    exists = bool(host.get_fact(File, path=f"{path}/bin/activate"))

    if not present:
        if exists:
            yield from files.directory._inner(path, present=False)
        else:
            host.noop(f"virtualenv {path} does not exist")
        return

    if exists:
        host.noop(f"virtualenv {path} exists")
        return

    if venv:
        # `python` is the default as in pyinfra; Debian has only `python3` unless
        # python-is-python3 is installed, so deploys there pass python="python3".
        command: list[Any] = [QuoteString(python) if python else "python", "-m", "venv"]
    else:
        command = ["virtualenv"]
        if python:
            command += ["-p", QuoteString(python)]
    if site_packages:
        command.append("--system-site-packages")
    if always_copy:
        command.append("--copies" if venv else "--always-copy")
    command.append(QuoteString(path))
    yield StringCommand(*command)


# pip.packages takes an argument named `virtualenv`, which hides the operation there.
_make_virtualenv = virtualenv._inner


@operation()
def venv(
    path: str,
    python: str | None = None,
    site_packages: bool = False,
    always_copy: bool = False,
    present: bool = True,
) -> Commands:
    """pip.virtualenv with the standard library's venv module, which needs no tool beyond
    the interpreter (Debian's python3-venv)."""
    yield from virtualenv._inner(
        path=path,
        python=python,
        venv=True,
        site_packages=site_packages,
        always_copy=always_copy,
        present=present,
    )


# A PEP 508 requirement, as far as pip.packages needs one: the name, extras, then either a
# direct URL or version specifiers (maybe in parentheses), then an environment marker.
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_REQUIREMENT = re.compile(
    rf"^\s*(?P<name>{_NAME})\s*(?:\[\s*(?P<extras>{_NAME}(?:\s*,\s*{_NAME})*)?\s*\])?\s*"
    r"(?:@\s*(?P<url>[^\s;]+)(?:\s+;(?P<url_marker>.*\S.*))?|"
    r"(?P<specs>\(\s*[^;()]*\)|[^;()]*?)\s*(?:;(?P<marker>.*\S.*))?)\s*$"
)
_SPECIFIER = re.compile(r"^\s*(~=|===|==|!=|<=|>=|<|>)\s*(\S+?)\s*$")
_VERSION = re.compile(
    r"^v?(?:\d+!)?\d+(?:\.\d+)*(?:\.\*)?(?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)[-_.]?\d*)?"
    r"(?:-\d+|[-_.]?(?:post|rev|r)[-_.]?\d*)?(?:[-_.]?dev[-_.]?\d*)?"
    r"(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Wanted:
    """One entry of `packages`: the name installed packages are looked up by (lower case, as
    PEP 426 compares them), the pinned version (a single specifier's, whatever its
    operator), and what is passed to pip."""

    name: str
    version: str
    install_arg: str

    @classmethod
    def parse(cls, text: str) -> _Wanted:
        """Entries that are not one-specifier PEP 508 requirements (`a>=1,<2`, typos) are
        looked up and installed as given, as pyinfra takes them."""
        as_given = cls(text, "", shlex.quote(text))
        match = _REQUIREMENT.match(text)
        if match is None:
            return as_given
        name = match["name"].lower()
        extras = match["extras"]
        shown = f"{name}[{','.join(e.strip() for e in extras.split(','))}]" if extras else name
        if match["url"]:
            return cls(name, "", shlex.quote(match["url"]))
        specs = match["specs"].strip().strip("()").strip()
        if not specs:
            return cls(name, "", shlex.quote(shown))
        parts = specs.split(",")
        spec = _SPECIFIER.match(parts[0])
        if len(parts) > 1 or spec is None or not _valid_version(*spec.groups()):
            return as_given
        operator, version = spec.groups()
        return cls(name, version, shlex.quote(f"{shown}{operator}{version}"))


def _valid_version(operator: str, version: str) -> bool:
    if operator == "===":
        return True
    if version.endswith(".*") and operator not in ("==", "!="):
        return False
    return bool(_VERSION.match(version))


def _package_list(packages: Any) -> list[str]:
    if packages is None:
        return []
    names = [packages] if isinstance(packages, str) else packages
    if not isinstance(names, (list, tuple, set, frozenset)) or not all(
        isinstance(n, str) for n in names
    ):
        raise OperationTypeError(
            f"pip.packages takes packages as a name or a list of names such as "
            f"['requests==2.31.0', 'click'], got {packages!r}"
        )
    # A set keeps no order; sorted, its command is the same on every run.
    ordered = sorted(names) if isinstance(names, (set, frozenset)) else names
    return [name for name in ordered if name]


_VIRTUALENV_KWARGS = ("python", "venv", "site_packages", "always_copy", "present")


def _check_virtualenv_kwargs(kwargs: Any) -> None:
    if kwargs is None:
        return
    unknown = [key for key in kwargs if key not in _VIRTUALENV_KWARGS] if isinstance(
        kwargs, dict) else None
    if unknown == []:
        return
    raise OperationTypeError(
        "pip.packages takes virtualenv_kwargs as a dict of pip.virtualenv's arguments "
        f"({', '.join(_VIRTUALENV_KWARGS)}), such as {{'venv': True}}; got "
        + (f"unknown {', '.join(map(repr, unknown))}" if unknown else repr(kwargs))
    )


def _pip_in(virtualenv_path: str, pip: str) -> str:
    return StringCommand(QuoteString(virtualenv_path.rstrip("/")), "/bin/", pip,
                         separator="").get_raw_value()


@operation()
def packages(
    packages: str | list[str] | None = None,
    present: bool = True,
    latest: bool = False,
    requirements: str | None = None,
    pip: str = "pip",
    virtualenv: str | None = None,
    virtualenv_kwargs: dict[str, Any] | None = None,
    extra_install_args: str | None = None,
) -> Commands:
    """Install (or with `present=False` uninstall) pip packages, and a requirements file.

    With `virtualenv`, that virtualenv is made first when missing (`virtualenv_kwargs` go to
    pip.virtualenv) and its own `bin/<pip>` is used. A package pinned as `name==1.0` counts
    as installed only at that version; with `latest`, every unpinned package is passed to
    `pip install --upgrade`, each run (pip alone knows whether a newer one exists). The
    requirements file is handed to pip on every run, as pip decides what it needs.
    """
    wanted = _package_list(packages)
    _check_virtualenv_kwargs(virtualenv_kwargs)

    if virtualenv:
        yield from _make_virtualenv(virtualenv, **(virtualenv_kwargs or {}))
        pip = _pip_in(virtualenv, pip)

    install = " ".join([pip, "install", *([extra_install_args] if extra_install_args else [])])
    upgrade = f"{install} --upgrade"
    uninstall = f"{pip} uninstall --yes"

    if requirements is not None:
        if present:
            yield StringCommand(upgrade if latest else install, "-r", QuoteString(requirements))
        else:
            yield StringCommand(uninstall, "-r", QuoteString(requirements))

    if wanted:
        installed = {name.lower(): versions
                     for name, versions in (host.get_fact(PipPackages, pip=pip) or {}).items()}
        yield from _ensure(
            [_Wanted.parse(name) for name in wanted], installed, present, latest,
            install, uninstall, upgrade,
        )


def _ensure(
    wanted: list[_Wanted],
    installed: dict[str, set[str]],
    present: bool,
    latest: bool,
    install: str,
    uninstall: str,
    upgrade: str,
) -> Commands:
    """One pip command for what is missing (or present, to uninstall) and, with `latest`,
    one upgrade of the installed unpinned packages."""
    changes: list[str] = []
    upgrades: list[str] = []
    for package in wanted:
        versions = installed.get(package.name)
        has = versions is not None and (not package.version or package.version in versions)
        shown = ",".join(sorted(versions or ()))
        if not present:
            if versions is not None and has:
                changes.append(package.install_arg)
            else:
                host.noop(f"package {package.name} is not installed")
            continue
        if not has:
            changes.append(package.install_arg)
        elif latest:
            if not package.version:
                upgrades.append(package.install_arg)
        else:
            host.noop(f"package {package.name} is installed ({shown})" if shown
                      else f"package {package.name} is installed")
    if changes:
        yield f"{install if present else uninstall} {' '.join(changes)}"
    if latest and upgrades:
        yield f"{upgrade} {' '.join(upgrades)}"
