"""The bad-input corpus: one directory per case under cases/<kind>/<name>/, holding the bad
files and an expected.toml that says what a clear error must contain.

expected.toml keys:
- what, fix: lists of fragments of the message (what went wrong, what to do about it);
- where: the place the message must name: file:line, or a config key path;
- outcome: "refused" (the default) or "applies" (the input is odd but valid: it must apply);
- absent: fragments the message must not contain (a secret's value);
- generate: the name of a generator in test_repository.py for contents too big or too odd
  to commit (50 MB, thousands of files, symlinks, binary bytes);
- xfail: a reason; the case is marked xfail(strict=True) with it.

Files ending in `.in` are templates: `{{HOSTS}}` becomes the bed hosts' inventory entries,
`{{H1}}` the first one's and `{{N1}}` its name; the `.in` is dropped from the committed name.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CASES = Path(__file__).parent / "cases"
MARKER = "/tmp/badinput-applied"
"""The bad deploys' first operation writes this file: on a host it means something applied."""
GOOD_FILE = "/srv/badinput/good"
"""The good commit's file, whose mtime must not move while bad commits come and go."""


@dataclass(frozen=True)
class Case:
    kind: str
    name: str
    directory: Path
    expected: dict[str, Any] = field(default_factory=dict)

    @property
    def refused(self) -> bool:
        return self.expected.get("outcome", "refused") == "refused"

    def files(self, hosts: Sequence[Any] = ()) -> dict[str, bytes]:
        """The case's files by repository path, templates rendered for these hosts."""
        found: dict[str, bytes] = {}
        for path in sorted(self.directory.rglob("*")):
            if not path.is_file() or path.name == "expected.toml":
                continue
            name = str(path.relative_to(self.directory))
            data = path.read_bytes()
            if name.endswith(".in"):
                name, data = name[:-3], render(data.decode(), hosts).encode()
            found[name] = data
        return found

    def param(self) -> Any:
        marks = []
        if "xfail" in self.expected:
            marks.append(pytest.mark.xfail(strict=True, reason=self.expected["xfail"]))
        return pytest.param(self, id=f"{self.kind}-{self.name}", marks=marks)


def cases(kind: str) -> list[Case]:
    """Every case of one kind, sorted by name."""
    return [Case(kind, d.name, d, tomllib.loads((d / "expected.toml").read_text()))
            for d in sorted((CASES / kind).iterdir()) if (d / "expected.toml").is_file()]


def params(*kinds: str) -> list[Any]:
    return [case.param() for kind in kinds for case in cases(kind)]


def entry(host: Any) -> str:
    return f"({host.name!r}, {host.ssh_data!r})"


def render(text: str, hosts: Sequence[Any]) -> str:
    if hosts:
        text = text.replace("{{H1}}", entry(hosts[0])).replace("{{N1}}", hosts[0].name)
    return text.replace("{{HOSTS}}", ", ".join(entry(h) for h in hosts))


def assert_clear(message: str, expected: Mapping[str, Any], where: str | None = None) -> None:
    """The message says what went wrong, where, and what to do, with no traceback."""
    assert "Traceback" not in message, message
    assert 'File "' not in message, message
    for fragment in expected.get("what", []):
        assert fragment in message, f"what: {fragment!r} not in {message!r}"
    place = where if where is not None else expected.get("where")
    if place:
        exact = re.escape(place) + r"(?!\d)"  # deploy.py:4 is not deploy.py:41
        assert re.search(exact, message), f"where: {place!r} not in {message!r}"
    for fragment in expected.get("fix", []):
        assert fragment in message, f"what to do: {fragment!r} not in {message!r}"
    for fragment in expected.get("absent", []):
        assert fragment not in message, f"{fragment!r} must not be in {message!r}"
