"""crontab facts, as pyinfra's `pyinfra.facts.crontab`: one user's crontab as entries.

The value is a `CrontabFile` rather than a plain dict because one crontab may hold the same
command twice (under different `# pyinfra-name=` comments) and environment lines; deploy code
written for pyinfra reads it with `.items()`, `.get(...)`, `[...]` and `.to_json()`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping
from typing import Any

from agent.engine.fact import FactBase

__all__ = ["Crontab", "CrontabFile", "name_comment", "try_int"]

SCHEDULE_FIELDS = ("minute", "hour", "day_of_month", "month", "day_of_week")

# crontab(5) environment line: NAME = value, the name bare or in matching quotes.
_ENV_LINE = re.compile(r"""^\s*(?:"[^"]*"|'[^']*'|[A-Za-z_][A-Za-z0-9_]*)\s*=""")


def try_int(value: Any) -> Any:
    """Schedule fields compare as numbers when they are numbers: `5` in a deploy is `5` in
    the crontab, while `*/5` stays a string."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def name_comment(cron_name: str | None) -> str:
    """The comment line that ties an entry to its `cron_name`, so a later command change
    replaces the entry instead of adding another."""
    return f"# pyinfra-name={cron_name}"


class CrontabFile:
    """The entries of one crontab, in file order."""

    def __init__(self, entries: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.commands: list[dict[str, Any]] = []
        for command, fields in (entries or {}).items():
            self.add_item({**fields, "command": command})

    def add_item(self, item: dict[str, Any]) -> None:
        self.commands.append(item)

    def __len__(self) -> int:
        return len(self.commands)

    def __bool__(self) -> bool:
        return bool(self.commands)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.commands)

    def items(self) -> dict[str, dict[str, Any]]:
        return {item.get("command") or item.get("env"): item for item in self.commands}

    def get_command(
        self, command: str | None = None, name: str | None = None
    ) -> dict[str, Any] | None:
        """The first entry running `command`, or carrying `name`'s comment."""
        if not command and not name:
            raise ValueError("get_command needs a command or a name")
        comment = name_comment(name)
        for item in self.commands:
            if "command" not in item:
                continue
            if item["command"] == command or comment in item.get("comments", []):
                return item
        return None

    def get_env(self, env: str) -> dict[str, Any] | None:
        return next((item for item in self.commands if item.get("env") == env), None)

    def get(self, item: str) -> dict[str, Any] | None:
        return self.get_command(command=item, name=item) or self.get_env(item)

    def __getitem__(self, item: str) -> dict[str, Any] | None:
        return self.get(item)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CrontabFile):
            return self.commands == other.commands
        return NotImplemented

    def __repr__(self) -> str:
        return f"CrontabResult({self.commands})"

    def format_item(self, item: Mapping[str, Any]) -> str:
        lines = list(item.get("comments", []))
        if "env" in item:
            lines.append(item["env"])
        elif "special_time" in item:
            lines.append(f"{item['special_time']} {item['command']}")
        else:
            schedule = " ".join(str(item[field]) for field in SCHEDULE_FIELDS)
            lines.append(f"{schedule} {item['command']}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return "\n".join(self.format_item(item) for item in self.commands)

    def to_json(self) -> list[dict[str, Any]]:
        return self.commands


def _parse_entry(line: str, comments: list[str]) -> dict[str, Any]:
    if line.startswith("@"):
        special_time, command = line.split(None, 1)
        return {"command": command, "special_time": special_time, "comments": comments}
    if _ENV_LINE.match(line):
        return {"env": line, "comments": comments}
    *schedule, command = line.split(None, 5)
    entry: dict[str, Any] = {"command": command}
    pairs = zip(SCHEDULE_FIELDS, schedule, strict=False)
    entry.update((field, try_int(value)) for field, value in pairs)
    entry["comments"] = comments
    return entry


class Crontab(FactBase[CrontabFile]):
    """One user's crontab (the connecting user's when `user` is None); empty when the user
    has none or the host has no `crontab` tool."""

    def requires_command(self, user: str | None = None) -> str:
        return "crontab"

    def command(self, user: str | None = None) -> str:
        if user:
            return f"crontab -l -u {shlex.quote(user)} || true"
        return "crontab -l || true"

    def default(self) -> CrontabFile:
        return CrontabFile()

    def process(self, output: list[str]) -> CrontabFile:
        crontab = CrontabFile()
        comments: list[str] = []
        for raw in output:
            line = raw.strip()
            if not line or line.startswith("#"):
                comments.append(line)
                continue
            crontab.add_item(_parse_entry(line, comments))
            comments = []
        return crontab
