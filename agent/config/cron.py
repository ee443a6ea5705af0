"""Five-field cron schedules, as operators write them in crontab, read by apscheduler 3.

apscheduler's day-of-week counts from Monday (0 = mon), crontab's from Sunday (0 and 7 =
sun), so numbers in that field are turned into day names first: "1-5" means Monday to
Friday here, as in crontab. Unlike classic cron, when both day-of-month and day-of-week are
restricted a time must match both (apscheduler's rule; docs/operator-guide.md says so).
"""

from __future__ import annotations

from datetime import tzinfo

from apscheduler.triggers.cron import CronTrigger

_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def cron_trigger(schedule: str, timezone: tzinfo) -> CronTrigger:
    """The trigger of `schedule` in `timezone`; ValueError says which field is wrong."""
    fields = schedule.split()
    if len(fields) != 5:
        raise ValueError(f"{schedule!r} is not a cron schedule: it needs 5 fields "
                         "(minute hour day-of-month month day-of-week), e.g. \"0 22 * * 1-5\"")
    minute, hour, day, month, weekday = fields
    try:
        return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                           day_of_week=_weekdays(weekday), timezone=timezone)
    except ValueError as exc:
        raise ValueError(f"{schedule!r}: {exc}") from None


def _weekdays(field: str) -> str:
    """Crontab's day-of-week field with its numbers spelled as day names."""
    if field == "*":
        return field
    return ",".join(_weekday_part(part) for part in field.split(","))


def _weekday_part(part: str) -> str:
    span, _, step_text = part.partition("/")
    step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
    if step_text and step is None:
        raise ValueError(f"day-of-week {part!r}: the step must be a positive number")
    if span == "*":
        first, last = 0, 6
    elif "-" in span:
        first, last = (_day_number(x) for x in span.split("-", 1))
        if last == 0 < first:
            last = 7  # "sat-sun": Sunday ends the week too
    else:
        first = last = _day_number(span)
        if step is not None:
            last = 6
    if first > last:
        raise ValueError(f"day-of-week {part!r}: the range runs backwards")
    return ",".join(dict.fromkeys(_DAY_NAMES[n % 7] for n in range(first, last + 1, step or 1)))


def _day_number(text: str) -> int:
    if text.isdigit() and int(text) <= 7:
        return int(text)
    if text.lower()[:3] in _DAY_NAMES:
        return _DAY_NAMES.index(text.lower()[:3])
    raise ValueError(f"day-of-week {text!r} is not a day (0-7 or sun-sat)")
