"""Exponential backoff, one policy for everything that retries on a timer: fetches, failed
commits and report deliveries.

Jitter spreads a fleet of agents whose remote or receiver came back at the same moment, so
they do not all hit it again in the same second.
"""

from __future__ import annotations

import random


class Backoff:
    """Delay before the next attempt: base * factor**(failures-1), capped, minus jitter.

    Holds only its own failure count (for callers that keep no count elsewhere); create one
    per thing being retried.
    """

    def __init__(self, base: float = 5.0, cap: float = 300.0, factor: float = 2.0,
                 jitter: float = 0.1, rng: random.Random | None = None) -> None:
        if base <= 0 or cap < base or factor < 1 or not 0 <= jitter < 1:
            raise ValueError("need 0 < base <= cap, factor >= 1 and 0 <= jitter < 1")
        self.base = base
        self.cap = cap
        self.factor = factor
        self.jitter = jitter
        self.failures = 0
        self._rng = rng or random.Random()

    def failure(self) -> float:
        """Count a failure and return how long to wait before trying again."""
        self.failures += 1
        return self.delay(self.failures)

    def success(self) -> None:
        self.failures = 0

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        """The wait after `failures` consecutive failures (0 means no wait)."""
        if failures <= 0:
            return 0.0
        raw = min(self.cap, self.base * self.factor ** (failures - 1))
        return raw * (1.0 - self.jitter * (rng or self._rng).random())
