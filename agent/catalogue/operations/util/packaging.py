"""Diff a wanted package list against what is installed, as the package operations share it."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class PackageSpec:
    """``name`` or ``name=version`` as given in deploy code."""

    name: str
    version: str | None

    @classmethod
    def parse(cls, text: str, version_join: str = "=") -> PackageSpec:
        name, sep, version = text.partition(version_join)
        return cls(name.strip(), version.strip() if sep and version.strip() else None)

    @property
    def install_arg(self) -> str:
        text = f"{self.name}={self.version}" if self.version else self.name
        return shlex.quote(text)


def as_list(packages: str | list[str] | tuple[str, ...] | None) -> list[str]:
    if packages is None:
        return []
    if isinstance(packages, str):
        return [packages]
    return [str(package) for package in packages]


@dataclass
class PackagePlan:
    """What to install, remove and upgrade, plus why nothing was needed for the rest."""

    install: list[PackageSpec]
    remove: list[PackageSpec]
    upgrade: list[PackageSpec]
    noops: list[str]


def plan_packages(
    wanted: list[PackageSpec],
    installed: Mapping[str, set[str]],
    present: bool,
    latest: bool = False,
    candidates: Mapping[str, Mapping[str, str | None]] | None = None,
) -> PackagePlan:
    """Compare wanted packages with installed ones.

    With ``latest``, a package without a pinned version is upgraded only when ``candidates``
    shows a candidate version different from the installed one, so a second run is quiet.
    """
    plan = PackagePlan([], [], [], [])
    for spec in wanted:
        versions = installed.get(spec.name)
        has = versions is not None and (spec.version is None or spec.version in versions)
        shown = ", ".join(sorted(versions)) if versions else ""
        if not present:
            if has:
                plan.remove.append(spec)
            else:
                plan.noops.append(f"package {spec.name} is not installed")
            continue
        if not has:
            plan.install.append(spec)
            continue
        if latest and spec.version is None:
            policy = (candidates or {}).get(spec.name, {})
            candidate = policy.get("candidate")
            if candidate and candidate not in versions:
                plan.upgrade.append(spec)
                continue
            plan.noops.append(f"package {spec.name} is up to date ({shown})")
            continue
        plan.noops.append(f"package {spec.name} is installed ({shown})")
    return plan


def joined(specs: list[PackageSpec]) -> str:
    return " ".join(spec.install_arg for spec in specs)
