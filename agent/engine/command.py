"""Commands an operation yields, and how they render for the shell and for reports.

Secrets are wrapped in MaskString at the point they enter a command, so every place that
shows a command (events, reports, logs) masks them without having to know which bits are
secret.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MASK = "***"


class QuoteString:
    """A value that must reach the shell as one word, whatever it contains."""

    def __init__(self, value: object) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"QuoteString({self.value!r})"


class MaskString(str):
    """A string that is real in the shell and `***` everywhere it is shown."""


Bit = "str | QuoteString | MaskString | StringCommand"


class StringCommand:
    """A shell command built from bits, so quoting and masking are decided in one place."""

    def __init__(self, *bits: Any, separator: str = " ") -> None:
        self.bits = bits
        self.separator = separator

    def _render(self, masked: bool) -> str:
        out: list[str] = []
        for bit in self.bits:
            if isinstance(bit, StringCommand):
                out.append(bit._render(masked))
            elif isinstance(bit, QuoteString):
                inner = bit.value
                if isinstance(inner, StringCommand):
                    text = inner._render(masked)
                elif isinstance(inner, MaskString) and masked:
                    text = MASK
                else:
                    text = str(inner)
                out.append(shlex.quote(text))
            elif isinstance(bit, MaskString):
                out.append(MASK if masked else str(bit))
            else:
                out.append(str(bit))
        return self.separator.join(out)

    def get_raw_value(self) -> str:
        """The text sent to the shell, secrets included."""
        return self._render(masked=False)

    def get_masked_value(self) -> str:
        """The text safe to show a person or store."""
        return self._render(masked=True)

    def __str__(self) -> str:
        return self.get_masked_value()

    def __repr__(self) -> str:
        return f"StringCommand({self.get_masked_value()!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StringCommand):
            return self.get_raw_value() == other.get_raw_value()
        if isinstance(other, str):
            return self.get_raw_value() == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.get_raw_value())


@dataclass
class FileUploadCommand:
    """Write `src` (bytes, or a local file) to `dest` on the host through the connector."""

    src: bytes | Path
    dest: str
    mode: str | None = None

    def read_bytes(self) -> bytes:
        return self.src if isinstance(self.src, bytes) else Path(self.src).read_bytes()

    def get_masked_value(self) -> str:
        return f"upload {self.dest}"

    def __str__(self) -> str:
        return self.get_masked_value()


@dataclass
class FunctionCommand:
    """A Python callback run at execute time on the engine side, with the host bound."""

    function: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    def get_masked_value(self) -> str:
        return f"python {getattr(self.function, '__name__', 'callable')}"

    def __str__(self) -> str:
        return self.get_masked_value()


Command = StringCommand | FileUploadCommand | FunctionCommand

Commands = Generator[str | Command, None, None]
"""What an operation's body is: a generator of commands (a bare string is a shell command)."""


def make_command(value: object) -> Command:
    """Normalise what an operation yields: a bare string is a shell command."""
    if isinstance(value, StringCommand | FileUploadCommand | FunctionCommand):
        return value
    if isinstance(value, str):
        return StringCommand(value)
    raise TypeError(f"an operation yielded {type(value).__name__}, not a command: {value!r}")
