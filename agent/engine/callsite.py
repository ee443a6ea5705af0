"""Where in the user's files the engine currently is: the frames of the deploy code.

Both operation identity and error locations are read from the call stack; this module is
the only place that walks it.
"""

from __future__ import annotations

import sys
from collections.abc import Collection, Iterator
from pathlib import Path
from types import FrameType, TracebackType

import agent

_AGENT_DIR = str(Path(agent.__file__).resolve().parent) + "/"


def _is_engine_frame(frame: FrameType) -> bool:
    return frame.f_code.co_filename.startswith(_AGENT_DIR)


def _outward_frames() -> Iterator[FrameType]:
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        yield frame
        frame = frame.f_back


def user_frame_lines(user_files: Collection[str]) -> tuple[int, ...]:
    """Line numbers of the user's frames, outermost first, from the first user-file frame in.

    Frames of the engine itself are left out, so the same call site gives the same lines
    whichever engine path led to it.
    """
    frames = list(_outward_frames())
    frames.reverse()
    start = next(
        (i for i, f in enumerate(frames) if f.f_code.co_filename in user_files), None
    )
    if start is None:
        return ()
    return tuple(f.f_lineno for f in frames[start:] if not _is_engine_frame(f))


def format_location(filename: str, lineno: int) -> str:
    return f"{filename}:{lineno}"


def current_location(user_files: Collection[str]) -> str | None:
    """file:line of the innermost user-file frame on the current stack."""
    for frame in _outward_frames():
        if frame.f_code.co_filename in user_files:
            return format_location(frame.f_code.co_filename, frame.f_lineno)
    return None


def innermost_user_file(user_files: Collection[str]) -> str | None:
    """The user's file executing right now (the one calling into the engine)."""
    for frame in _outward_frames():
        if frame.f_code.co_filename in user_files:
            return frame.f_code.co_filename
    return None


def traceback_location(tb: TracebackType | None, user_files: Collection[str]) -> str | None:
    """file:line of the innermost user-file frame of a traceback."""
    found = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename in user_files:
            found = format_location(tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return found
