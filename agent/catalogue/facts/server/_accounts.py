"""Facts about local accounts: users and groups."""

from __future__ import annotations

from typing import Any

from agent.catalogue.facts.server._machine import int_or_none
from agent.engine.fact import FactBase

__all__ = ["Groups", "Users"]


class Users(FactBase[dict[str, dict[str, Any]]]):
    """Local accounts from the passwd database: name -> uid, gid, comment, home, shell."""

    def command(self) -> str:
        return "getent passwd 2>/dev/null || cat /etc/passwd"

    def default(self) -> dict[str, dict[str, Any]]:
        return {}

    def process(self, output: list[str]) -> dict[str, dict[str, Any]]:
        users: dict[str, dict[str, Any]] = {}
        for line in output:
            fields = line.split(":")
            if len(fields) < 7:
                continue
            name, _, uid, gid, comment, home, shell = fields[:7]
            users[name] = {
                "uid": int_or_none(uid),
                "gid": int_or_none(gid),
                "comment": comment,
                "home": home,
                "shell": shell,
            }
        return users


class Groups(FactBase[list[str]]):
    """Names of the local groups."""

    def command(self) -> str:
        return "getent group 2>/dev/null || cat /etc/group"

    def default(self) -> list[str]:
        return []

    def process(self, output: list[str]) -> list[str]:
        return [line.split(":", 1)[0] for line in output if ":" in line]
