"""Hide secret values in anything the engine shows or stores (commands, stderr, diffs)."""

from __future__ import annotations

from collections.abc import Iterable

from agent.engine.command import MASK


class Masker:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is hidden whole.
        self.secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text
