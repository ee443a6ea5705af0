"""An operation's identity: where it was called from. Computed here and nowhere else.

The identity is the deploy-file index, the line numbers of the user's call stack (so an op
inside a helper function called from two places is two ops), the position in any
`host.loop()`, and a repeat counter for plain loops. The same call site on two hosts is the
same operation; that is what lets per-host sequences merge into one global order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple, TypeVar

from agent.engine.callsite import user_frame_lines

T = TypeVar("T")


class OpId(NamedTuple):
    path: tuple[int, ...]  # file index, call-stack lines, loop positions
    repeat: int  # 0, then 1, 2... when a plain loop reaches the same call site again

    def sort_key(self) -> tuple[int, ...]:
        """pyinfra's tie-break: the flat tuple of numbers, compared lexically."""
        return (*self.path, self.repeat) if self.repeat else self.path


@dataclass
class IdentityTracker:
    """Per-host, per-run state that op identities depend on."""

    loop_position: list[int] = field(default_factory=list)
    seen: Counter[tuple[int, ...]] = field(default_factory=Counter)

    def next_identity(self, file_index: int, user_files: Collection[str]) -> OpId:
        path = (file_index, *user_frame_lines(user_files), *self.loop_position)
        repeat = self.seen[path]
        self.seen[path] += 1
        return OpId(path, repeat)

    def loop(self, iterable: Iterable[T]) -> Iterator[T]:
        """`for x in host.loop(items)`: each iteration is its own op identity."""
        self.loop_position.append(0)
        try:
            for index, item in enumerate(iterable):
                self.loop_position[-1] = index
                yield item
        finally:
            self.loop_position.pop()
