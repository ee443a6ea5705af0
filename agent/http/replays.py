"""The delivery ids of verified webhooks seen lately, so that a delivery sent again (a forge's
redelivery, or a captured request replayed as it was) starts nothing the second time.

Only verified deliveries are recorded: an unsigned request must not be able to fill the
table or mark a real delivery as seen. The memory is the process's own, bounded by count
and age; a restart forgets it (docs/operator-guide.md says so). Ids are kept as digests, so
a long header costs no more than a short one.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

DEFAULT_WINDOW = 24 * 3600.0
DEFAULT_CAPACITY = 10_000


class DeliveryLog:
    """The last `capacity` delivery ids, each remembered for `window` seconds."""

    def __init__(self, window: float = DEFAULT_WINDOW, capacity: int = DEFAULT_CAPACITY,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self.capacity = capacity
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: OrderedDict[bytes, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def first_time(self, provider: str, delivery: str | None) -> bool:
        """Record the delivery; False when it was seen within the window. A delivery without
        an id cannot be told apart from another, so it always counts as new."""
        if not delivery:
            return True
        key = hashlib.sha256(f"{provider}\0{delivery}".encode()).digest()
        with self._lock:
            now = self._clock()
            while self._seen and next(iter(self._seen.values())) <= now - self.window:
                self._seen.popitem(last=False)
            if key in self._seen:
                return False
            self._seen[key] = now
            while len(self._seen) > self.capacity:
                self._seen.popitem(last=False)
            return True
