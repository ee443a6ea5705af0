"""Durations as operators write them: `60`, `"30s"`, `"5m"`, `"1h30m"`, `"250ms"`.

Every interval in the config is stored as float seconds so the scheduler never has to
guess units; strings are only a convenience of the file format.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(value: object) -> float:
    """Turn a config duration into seconds, rejecting anything ambiguous or negative."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 60, \"30s\", \"5m\" or \"1h\"")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_duration_text(value.strip().lower())
    else:
        raise ValueError("expected a duration such as 60, \"30s\", \"5m\" or \"1h\"")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def _parse_duration_text(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    if not text or _PART.sub("", text):
        raise ValueError(
            f"{text!r} is not a duration; write seconds (60) or a number with a unit "
            "(ms, s, m, h, d), e.g. \"30s\", \"5m\", \"1h30m\""
        )
    return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(text))


Duration = Annotated[float, BeforeValidator(parse_duration)]
