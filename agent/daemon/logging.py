"""Structured logs for the agent: key=value text for people, one JSON object per line for
collectors. Fields come from `extra=` on each call, so code logs facts, not prose to parse.

Only `setup_logging` (called by the CLI) touches handlers; library code just logs.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, TextIO

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName",
}
LOGGER_NAME = "agent"


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record as ordered fields: time, level, logger, msg, then the caller's extras."""
    fields: dict[str, Any] = {
        "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        + f".{int(record.msecs):03d}Z",
        "level": record.levelname.lower(),
        "logger": record.name,
        "msg": record.getMessage(),
    }
    for key, value in record.__dict__.items():
        if key not in _STANDARD and not key.startswith("_"):
            fields[key] = value
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        fields["error"] = f"{type(exc).__name__}: {exc}"
    return fields


def _text_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if text == "" or any(c in text for c in ' "=\n\t'):
        return json.dumps(text)
    return text


class KeyValueFormatter(logging.Formatter):
    """`ts=... level=info logger=agent.daemon msg="run finished" run_id=3 ...`"""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{k}={_text_value(v)}" for k, v in record_fields(record).items())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(record_fields(record), default=str)


def setup_logging(stream: TextIO, fmt: str = "text", level: str = "info") -> logging.Handler:
    """Send the `agent.*` loggers to `stream`; returns the handler so a reload can swap it."""
    logger = logging.getLogger(LOGGER_NAME)
    for old in list(logger.handlers):
        if getattr(old, "_pullinfra", False):
            logger.removeHandler(old)
    handler = logging.StreamHandler(stream)
    handler._pullinfra = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if fmt == "json" else KeyValueFormatter())
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False
    return handler
