"""crontab operations, as pyinfra's `pyinfra.operations.crontab`.

An entry is found by its command, or by its `cron_name` comment when one is given (so the
command itself may change). The crontab is edited as a whole: listed into a temporary file,
edited there with echo/sed, and installed back with `crontab FILE`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import uuid4

from agent.catalogue.facts.crontab import Crontab, CrontabFile, name_comment, try_int
from agent.catalogue.operations.util.files import SedEdit, sed_delete, sed_replace
from agent.engine.command import Commands, QuoteString, StringCommand
from agent.engine.context import host
from agent.engine.operation import operation
from agent.engine.operation_errors import OperationValueError

__all__ = ["crontab"]

ScheduleValue = Sequence[str | int] | str | int | None


def _comma_joined(value: ScheduleValue) -> str | int | None:
    if isinstance(value, (list, tuple)):
        return ",".join(str(part) for part in value)
    return value  # type: ignore[return-value]


def _temp_filename() -> str:
    return f"/tmp/pullinfra-{uuid4().hex}"


def _check_command(command: Any) -> str:
    if not isinstance(command, str) or not command.strip():
        raise OperationValueError(
            f"crontab.crontab needs a non-empty command string, got {command!r}: "
            "pass the command the cron entry runs as command=..."
        )
    return command


def _current(user: str | None) -> CrontabFile:
    found = host.get_fact(Crontab, user=user)
    return CrontabFile(found) if isinstance(found, dict) else found


def _schedule_differs(
    entry: dict[str, Any], schedule: dict[str, Any], special_time: str | None
) -> bool:
    if special_time != entry.get("special_time"):
        return True
    return any(try_int(value) != entry.get(field) for field, value in schedule.items())


@operation()
def crontab(
    command: str,
    present: bool = True,
    user: str | None = None,
    cron_name: str | None = None,
    minute: ScheduleValue = None,
    hour: ScheduleValue = None,
    month: ScheduleValue = None,
    day_of_week: ScheduleValue = None,
    day_of_month: ScheduleValue = None,
    special_time: str | None = None,
    interpolate_variables: bool = False,
) -> Commands:
    """Add, update or remove one crontab entry; list values such as `minute=[0, 30]` become
    `0,30`, unset schedule fields `*`, and `special_time` (`@reboot`) replaces them all."""
    command = _check_command(command)
    schedule = {
        "minute": _comma_joined(minute),
        "hour": _comma_joined(hour),
        "month": _comma_joined(month),
        "day_of_week": _comma_joined(day_of_week),
        "day_of_month": _comma_joined(day_of_month),
    }
    current = _current(user)
    comment = name_comment(cron_name)
    entry = current.get_command(command=None if cron_name else command, name=cron_name)
    named = entry is not None and comment in entry.get("comments", [])
    temp = _temp_filename()
    edit = SedEdit(interpolate_variables=interpolate_variables)

    if special_time:
        new_line = f"{special_time} {command}"
    else:
        schedule = {field: "*" if value is None else value for field, value in schedule.items()}
        fields = ("minute", "hour", "day_of_month", "month", "day_of_week")
        new_line = " ".join(str(schedule[field]) for field in fields) + f" {command}"
    match = f".*{entry['command'] if entry else command}.*"

    edits: list[str | StringCommand] = []
    if not present and entry is not None:
        edits.append(sed_delete(temp, match, edit))
    elif present and entry is None:
        if current:
            edits.append(f"echo '' >> {temp}")
        if cron_name:
            edits.append(StringCommand("echo", QuoteString(comment), ">>", temp))
        edits.append(StringCommand("echo", QuoteString(new_line), ">>", temp))
    elif present and entry is not None and (
        named != (cron_name is not None)
        or entry["command"] != command
        or _schedule_differs(entry, schedule, special_time)
    ):
        if cron_name and not named:
            new_line = f"{comment}\\n{new_line}"
        edits.append(sed_replace(temp, match, new_line, edit))

    if not edits:
        host.noop(f"crontab {command} {'exists' if present else 'does not exist'}")
        return
    user_args: list[Any] = ["-u", QuoteString(user)] if user else []
    if current:
        yield StringCommand("crontab -l", *user_args, ">", QuoteString(temp))
    yield from edits
    yield StringCommand("crontab", *user_args, QuoteString(temp))
