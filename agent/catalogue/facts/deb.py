"""Facts about Debian packages, read from dpkg's database and from .deb archives."""

from __future__ import annotations

import shlex
from typing import Any

from agent.engine.fact import FactBase

# db:Status-Abbrev is want/status/error, e.g. "ii " (installed) or "hi " (held, installed).
DPKG_QUERY_FORMAT = r"${db:Status-Abbrev}|${Package}|${Version}\n"


class DebPackages(FactBase[dict[str, set[str]]]):
    """Installed packages: ``{name: {version, ...}}``.

    Only packages whose status is *installed* count: removed-but-configured (``rc``) or
    half-installed ones are absent, so an install op still fixes them.
    """

    def requires_command(self) -> str:
        return "dpkg-query"

    def command(self) -> str:
        return f"dpkg-query -W -f='{DPKG_QUERY_FORMAT}'"

    def default(self) -> dict[str, set[str]]:
        return {}

    def process(self, output: list[str]) -> dict[str, set[str]]:
        packages: dict[str, set[str]] = {}
        for line in output:
            parts = line.split("|")
            if len(parts) != 3:
                continue
            status, name, version = (part.strip() for part in parts)
            # Want may be install or hold; the second letter is the actual state.
            if len(status) < 2 or status[1] != "i" or status[0] not in "ih":
                continue
            packages.setdefault(name, set()).add(version)
        return packages


class DebPackage(FactBase[dict[str, Any]]):
    """A ``.deb`` archive's name and version, or an installed package's (None: neither, as in
    pyinfra).

    A name ending in ``.deb`` that is a file on the host is read as an archive, so apt.deb can
    tell whether that very version is installed; anything else is looked up in dpkg's database.
    """

    def requires_command(self, package: str) -> str:
        return "dpkg-query"

    def command(self, package: str) -> str:
        name = shlex.quote(package)
        return (
            f"test -f {name} && case {name} in *.deb) dpkg-deb -f {name} Package Version ;;"
            f" *) false ;; esac"
            f" || dpkg-query -W -f='{DPKG_QUERY_FORMAT}' {name} 2>/dev/null || true"
        )

    def process(self, output: list[str]) -> dict[str, Any]:
        archive: dict[str, Any] = {}
        for line in output:
            field, sep, value = line.partition(":")
            if sep and field in ("Package", "Version") and "|" not in line:
                archive[field.lower() if field == "Version" else "name"] = value.strip()
        if archive:
            return archive
        for name, versions in DebPackages().process(output).items():
            return {"name": name, "version": sorted(versions)[0]}
        return {}


class DebArch(FactBase[str]):
    """The architecture apt sources name (``amd64``), for ``[arch=...]`` options."""

    immutable = True

    def requires_command(self) -> str:
        return "dpkg"

    def command(self) -> str:
        return "dpkg --print-architecture"

    def process(self, output: list[str]) -> str:
        return output[0].strip() if output else ""
