"""Facts about local accounts: users, groups, the current user, homes and authorized keys."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from agent.catalogue.facts.server._machine import int_or_none
from agent.engine.command import QuoteString, StringCommand
from agent.engine.fact import FactBase
from agent.engine.operation_errors import OperationValueError

__all__ = ["AuthorizedKeys", "Groups", "Home", "User", "Users"]

# `~name` is expanded by the shell only while it is a bare word, so a name that goes there
# unquoted must be one that needs no quoting.
_TILDE_SAFE_NAME = re.compile(r"^[a-zA-Z0-9._][a-zA-Z0-9._-]*$")

# Lines that split the Users fact's output into its sources (no passwd, group or shadow line
# can start with a colon).
_GROUP_MARK = "::group::"
_SHADOW_MARK = "::shadow::"
_LASTLOG_MARK = "::lastlog::"

# The login time in a lastlog/lastlogin line, once runs of spaces are squeezed:
# "Wed Dec 2 15:19:51 +0000 2026".
_LOGIN_TIME = re.compile(r"[A-Z][a-z]{2} [A-Z][a-z]{2} {1,2}\d+ .+$")
_LOGIN_TIME_FORMATS = ("%a %b %d %H:%M:%S %z %Y", "%a %b %d %H:%M:%S %Y")


def check_tilde_name(user: str) -> str:
    """The name, if it can stand unquoted after `~` (the facts below need the shell to expand
    it); an OperationValueError otherwise, since quoting it would stop the expansion."""
    if user and not _TILDE_SAFE_NAME.match(user):
        raise OperationValueError(
            f"{user!r} is not a user name that can be looked up safely: pass a plain name"
            " (letters, digits, '.', '_', '-')"
        )
    return user


def _login_time(text: str) -> datetime | None:
    for layout in _LOGIN_TIME_FORMATS:
        try:
            return datetime.strptime(text, layout)
        except ValueError:
            continue
    return None


def _sections(output: list[str]) -> dict[str, list[str]]:
    marks = {_GROUP_MARK: "group", _SHADOW_MARK: "shadow", _LASTLOG_MARK: "lastlog"}
    sections: dict[str, list[str]] = {"passwd": [], "group": [], "shadow": [], "lastlog": []}
    current = sections["passwd"]
    for line in output:
        if line in marks:
            current = sections[marks[line]]
        elif line:
            current.append(line)
    return sections


def _groups_of(group_lines: list[str]) -> tuple[dict[int, str], list[tuple[str, list[str]]]]:
    """gid -> first group name, and each group's name with its listed members (file order)."""
    names: dict[int, str] = {}
    members: list[tuple[str, list[str]]] = []
    for line in group_lines:
        fields = line.split(":")
        if len(fields) < 4:
            continue
        gid = int_or_none(fields[2])
        if gid is not None:
            names.setdefault(gid, fields[0])
        members.append((fields[0], [m for m in fields[3].split(",") if m]))
    return names, members


def _first_fields(lines: list[str], separator: str) -> dict[str, str]:
    """name -> the rest of its line, for the first line of each name."""
    found: dict[str, str] = {}
    for line in lines:
        name, _, rest = line.partition(separator)
        found.setdefault(name, rest)
    return found


class Users(FactBase[dict[str, dict[str, Any]]]):
    """The local accounts (/etc/passwd): name -> group, groups (secondary only), comment,
    home, shell, uid, gid, lastlog, login_time and password (the hash from the shadow file,
    "" when it cannot be read). Empty comment, home and shell are None, as in pyinfra.

    One command reads passwd, group, shadow and lastlog whole, rather than running `id`,
    `grep` and `lastlog` once per account: group membership comes from /etc/group, which is
    what useradd and usermod change.
    """

    def command(self) -> str:
        return (
            f"cat /etc/passwd; echo '{_GROUP_MARK}'; cat /etc/group;"
            f" echo '{_SHADOW_MARK}'; (cat /etc/shadow || cat /etc/master.passwd) 2>/dev/null;"
            f" echo '{_LASTLOG_MARK}'; (lastlog || lastlogin) 2>/dev/null | tr -s ' '; true"
        )

    def default(self) -> dict[str, dict[str, Any]]:
        return {}

    def process(self, output: list[str]) -> dict[str, dict[str, Any]]:
        sections = _sections(output)
        group_names, group_members = _groups_of(sections["group"])
        shadow = _first_fields(sections["shadow"], ":")
        lastlog = _first_fields(sections["lastlog"], " ")
        users: dict[str, dict[str, Any]] = {}
        for line in sections["passwd"]:
            fields = line.split(":")
            if len(fields) < 7 or fields[0] in users:
                continue
            name, _, uid, gid, comment, home, shell = fields[:7]
            gid_number = int_or_none(gid)
            group = group_names.get(gid_number, gid) if gid_number is not None else gid
            login = _LOGIN_TIME.search(lastlog.get(name, ""))
            raw_login = login.group() if login else None
            users[name] = {
                "home": home or None,
                "comment": comment or None,
                "shell": shell or None,
                "group": group,
                "groups": [g for g, members in group_members if name in members and g != group],
                "uid": int_or_none(uid),
                "gid": gid_number,
                "lastlog": raw_login,
                "login_time": _login_time(raw_login) if raw_login else None,
                "password": shadow.get(name, "").partition(":")[0],
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


class User(FactBase[str]):
    """The name of the user commands run as (with `_sudo`, root or `_sudo_user`).

    $USER, as pyinfra reads; where nothing set it (cron, some containers), `id -un`.
    """

    def command(self) -> str:
        return 'echo "${USER:-$(id -un)}"'


class Home(FactBase[str]):
    """The home directory of `user` (of the current user when none is given); None when there
    is no such user, where the shell leaves `~user` unexpanded."""

    def command(self, user: str = "") -> str:
        return f"echo ~{check_tilde_name(user)}"

    def process(self, output: list[str]) -> str | None:
        home = "\n".join(output)
        return None if home.startswith("~") else home


class AuthorizedKeys(FactBase[list[str]]):
    """The keys in a user's authorized_keys (`path`, else ~user/.ssh/authorized_keys), in
    file order, each line stripped; blank lines and comments are left out. A missing or
    unreadable file has none."""

    def command(self, user: str, path: str | None = None) -> str:
        if path is not None:
            target: Any = QuoteString(path)
        else:
            target = f"~{check_tilde_name(user)}/.ssh/authorized_keys"
        return StringCommand("cat", target, "2>/dev/null || true").get_raw_value()

    def default(self) -> list[str]:
        return []

    def process(self, output: list[str]) -> list[str]:
        stripped = (line.strip() for line in output)
        return [line for line in stripped if line and not line.startswith("#")]
