"""The one exception type for mistakes a user can fix in their configuration."""

from __future__ import annotations


class ConfigError(Exception):
    """A configuration the agent cannot run with; the message is ready to show as is.

    The CLI prints the message (no traceback) and exits with code 2.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
