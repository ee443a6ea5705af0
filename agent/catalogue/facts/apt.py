"""Facts about apt: candidate versions, simulated upgrades, configured sources and trusted keys."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any, ClassVar

from agent.catalogue.facts.gpg import GpgKeyrings
from agent.engine.fact import FactBase, FactError


class AptPolicy(FactBase[dict[str, dict[str, str | None]]]):
    """Installed and candidate version of each package apt knows about.

    ``{"bash": {"installed": "5.2.15-2+b8", "candidate": "5.2.15-2+b13"}}``; a package apt has
    never heard of is missing from the dict. This is what lets ``apt.packages(latest=True)``
    upgrade only packages that have something newer, so a second run changes nothing.
    """

    def requires_command(self, packages: tuple[str, ...] | list[str]) -> str:
        return "apt-cache"

    def command(self, packages: tuple[str, ...] | list[str]) -> str:
        names = " ".join(shlex.quote(name) for name in packages)
        return f"LC_ALL=C apt-cache policy {names} 2>/dev/null || true"

    def default(self) -> dict[str, dict[str, str | None]]:
        return {}

    def process(self, output: list[str]) -> dict[str, dict[str, str | None]]:
        result: dict[str, dict[str, str | None]] = {}
        current: dict[str, str | None] | None = None
        for line in output:
            if line and not line[0].isspace() and line.rstrip().endswith(":"):
                # Multi-arch queries print "name:arch:"; the operations use bare names.
                name = line.rstrip()[:-1].split(":", 1)[0]
                current = result.setdefault(name, {"installed": None, "candidate": None})
                continue
            if current is None:
                continue
            field, _, value = line.strip().partition(":")
            if field in ("Installed", "Candidate"):
                text = value.strip()
                current[field.lower()] = None if text in ("(none)", "") else text
        return result


APT_CHANGES_RE = re.compile(
    r"^(\d+) upgraded, (\d+) newly installed, (\d+) to remove and (\d+) not upgraded\.$"
)


class AptSimulate(FactBase[dict[str, int]]):
    """Counts from ``apt-get -s <command>``, so ``apt.upgrade`` can tell when it is a no-op."""

    def requires_command(self, command: str) -> str:
        return "apt-get"

    def command(self, command: str) -> str:
        return f"LC_ALL=C apt-get -s {command} 2>/dev/null || true"

    def default(self) -> dict[str, Any]:
        return {}

    def process(self, output: list[str]) -> dict[str, int]:
        for line in output:
            match = APT_CHANGES_RE.match(line.strip())
            if match:
                upgraded, installed, removed, held = (int(g) for g in match.groups())
                return {
                    "upgraded": upgraded,
                    "newly_installed": installed,
                    "removed": removed,
                    "not_upgraded": held,
                }
        return {}


# --------------------------------------------------------------------------- sources


@dataclass(frozen=True, eq=False)
class AptRepo:
    """One apt source: a type, a URI and a suite, with components and options.

    The same shape comes from a one-line ``.list`` entry and from each combination a deb822
    stanza expands to, so apt.repo and apt.sources_file can ask "is this already configured?"
    whichever format configured it. It reads like a dict too (``repo["url"]``), as deploy code
    written against pyinfra's fact expects.
    """

    type: str
    url: str
    distribution: str
    components: list[str]
    options: dict[str, str | list[str]]

    FIELDS: ClassVar[tuple[str, ...]] = ("type", "url", "distribution", "components", "options")

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def __contains__(self, key: object) -> bool:
        return key in self.FIELDS

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)

    def keys(self) -> list[str]:
        return list(self.FIELDS)

    def values(self) -> list[Any]:
        return [getattr(self, k) for k in self.FIELDS]

    def items(self) -> list[tuple[str, Any]]:
        return [(k, getattr(self, k)) for k in self.FIELDS]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, AptRepo | dict):
            return all(self[k] == other.get(k) for k in self.FIELDS)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable lists inside

    def to_json(self) -> dict[str, Any]:
        return dict(self.items())


APT_LINE_RE = re.compile(
    r"^(deb(?:-src)?)(?:\s+\[([^\]]+)\])?\s+(\S+)\s+(\S+)(?:\s+([a-z-\s\d]+))?\s*$"
)


def parse_apt_repo(line: str) -> AptRepo | None:
    """A one-line source (``deb [opt=v,w] URI suite [component...]``), or None if it is not
    one. A flat repository's suite ends in ``/`` and has no components."""
    match = APT_LINE_RE.match(line)
    if not match:
        return None
    options: dict[str, str | list[str]] = {}
    for option in (match.group(2) or "").split():
        key, _, value = option.partition("=")
        options[key] = value.split(",") if "," in value else value
    return AptRepo(
        type=match.group(1),
        url=match.group(3),
        distribution=match.group(4),
        components=(match.group(5) or "").split(),
        options=options,
    )


def parse_apt_list_file(lines: list[str]) -> list[AptRepo]:
    repos = []
    for raw in lines:
        line = raw.strip()
        if line and not line.startswith("#"):
            repo = parse_apt_repo(line)
            if repo:
                repos.append(repo)
    return repos


@dataclass(frozen=True)
class AptSourcesFile:
    """One deb822 stanza before it is expanded: every multi-value field as a list."""

    types: list[str]
    uris: list[str]
    suites: list[str]
    components: list[str]
    architectures: list[str] | None = None
    signed_by: list[str] | None = None
    trusted: str | None = None

    @classmethod
    def from_deb822_lines(cls, lines: list[str]) -> AptSourcesFile | None:
        """The stanza's fields (continuation lines joined; a lone ``.`` is an empty line), or
        None when a required field is missing or the stanza has ``Enabled: no``."""
        fields: dict[str, str] = {}
        current: str | None = None
        for line in lines:
            if line.startswith("#"):
                continue
            if line[:1] in (" ", "\t") and current is not None:
                rest = line[1:]
                fields[current] += "\n" + ("" if rest == "." else rest)
                continue
            if not line.strip() or ":" not in line:
                continue
            name, _, value = line.partition(":")
            current = name.strip()
            fields[current] = value.strip()
        if any(name not in fields for name in ("Types", "URIs", "Suites")):
            return None
        if fields.get("Enabled", "yes").lower() != "yes":
            return None
        signed = fields.get("Signed-By", "").strip()
        if not signed:
            signed_by = None
        elif "-----BEGIN PGP" in signed:
            signed_by = [signed]  # an inline key is one value, not paths
        else:
            signed_by = signed.split()
        return cls(
            types=fields["Types"].split(),
            uris=fields["URIs"].split(),
            suites=fields["Suites"].split(),
            components=fields.get("Components", "").split(),
            architectures=fields["Architectures"].split() if fields.get("Architectures") else None,
            signed_by=signed_by,
            trusted=fields["Trusted"].lower() if fields.get("Trusted") else None,
        )

    @classmethod
    def parse_sources_file(cls, lines: list[str]) -> list[AptRepo]:
        repos: list[AptRepo] = []
        stanza: list[str] = []
        for raw in [*lines, ""]:
            line = raw.rstrip("\n")
            if line.strip():
                stanza.append(line)
                continue
            entry = cls.from_deb822_lines(stanza) if stanza else None
            if entry:
                repos.extend(entry.expand_to_repos())
            stanza = []
        return repos

    def expand_to_repos(self) -> list[AptRepo]:
        """One AptRepo per type x URI x suite, options spelled as a one-line source's."""
        options: dict[str, str | list[str]] = {}
        if self.architectures:
            options["arch"] = _one_or_list(self.architectures)
        if self.signed_by:
            options["signed-by"] = _one_or_list(self.signed_by)
        if self.trusted:
            options["trusted"] = self.trusted
        return [
            AptRepo(kind, uri, suite, list(self.components), dict(options))
            for kind in self.types
            for uri in self.uris
            for suite in self.suites
        ]


def _one_or_list(values: list[str]) -> str | list[str]:
    return values[0] if len(values) == 1 else list(values)


FILE_MARK = "##PYINFRA_FILE "


class AptSources(FactBase[list[AptRepo]]):
    """Every enabled source in /etc/apt/sources.list and sources.list.d (``.list`` and deb822
    ``.sources`` files alike), as AptRepo entries."""

    def requires_command(self) -> str:
        return "apt"

    def command(self) -> str:
        return (
            "sh -c '"
            "for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list"
            " /etc/apt/sources.list.d/*.sources; do "
            '[ -e "$f" ] || continue; '
            f'echo "{FILE_MARK}$f"; cat "$f"; echo; '
            "done'"
        )

    def default(self) -> list[AptRepo]:
        return []

    def process(self, output: list[str]) -> list[AptRepo]:
        repos: list[AptRepo] = []
        current: str | None = None
        lines: list[str] = []

        def flush() -> None:
            if current is None or not lines:
                return
            if current.endswith(".sources"):
                repos.extend(AptSourcesFile.parse_sources_file(lines))
            else:
                repos.extend(parse_apt_list_file(lines))

        for line in output:
            if line.startswith(FILE_MARK):
                flush()
                current, lines = line[len(FILE_MARK):].strip(), []
            else:
                lines.append(line)
        flush()
        return repos


APT_KEYRING_DIRS = ("/etc/apt/trusted.gpg.d", "/etc/apt/keyrings", "/usr/share/keyrings")


class AptKeys(GpgKeyrings):
    """Every key apt may trust, from the keyring directories (not the retired ``apt-key``):
    ``{key id: {...as GpgKeys}}``. A key in several keyrings is listed once."""

    def requires_command(self, directories: Any = None) -> str:  # type: ignore[override]
        return "gpg"

    def command(self, directories: Any = None) -> str:  # type: ignore[override]
        return super().command(list(directories or APT_KEYRING_DIRS))

    def process(self, output: list[str]) -> dict[str, Any]:  # type: ignore[override]
        keys: dict[str, Any] = {}
        for keyring in super().process(output).values():
            keys.update(keyring.get("keys", {}))
        return keys


class SimulateOperationWillChange(FactBase[dict[str, int]]):
    """pyinfra's name for a dry run's counts; the same reading as AptSimulate, but the
    simulation failing is an error here, as it is there."""

    def requires_command(self, command: str) -> str:
        return "apt-get"

    def command(self, command: str) -> str:
        return (
            "LC_ALL=C DEBIAN_FRONTEND=noninteractive apt-get -y"
            ' -o Dpkg::Options::="--force-confdef" -o Dpkg::Options::="--force-confold"'
            f" {command} --dry-run"
        )

    def process(self, output: list[str]) -> dict[str, int]:
        counts = AptSimulate().process(output)
        if not counts:
            raise FactError("apt-get's dry run printed no summary of changes")
        return counts
