"""A token bucket per source address for the endpoints that make the agent work
(/api/trigger and /hooks/*): each accepted request can start a fetch, so one caller must not
be able to keep the agent fetching. Checked before the token or the signature, so a flood
costs no HMAC either.

Memory is bounded: the table holds at most `max_sources` buckets, the least recently used
going first, and a bucket that has filled up again is dropped early, as it holds nothing an
absent one would not. IPv6 callers share the bucket of their /64, since one machine
usually owns a whole /64 and could otherwise take a fresh address per request.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

DEFAULT_MAX_SOURCES = 10_000


class RateLimiter:
    """`per_minute` requests per source and scope, after a first `burst` at once."""

    def __init__(self, per_minute: float, burst: int, *,
                 max_sources: int = DEFAULT_MAX_SOURCES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute <= 0 or burst < 1 or max_sources < 1:
            raise ValueError("per_minute must be above 0, burst and max_sources at least 1")
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_sources = max_sources
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def check(self, scope: str, address: str) -> float:
        """Take one token: 0.0 when the request may go on, else the seconds until the next
        token (what Retry-After says)."""
        key = (scope, source_of(address))
        with self._lock:
            now = self._clock()
            self._drop_refilled(now)
            tokens, last = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate
            self._buckets[key] = (tokens - 1.0 if wait == 0.0 else tokens, now)
            while len(self._buckets) > self.max_sources:
                self._buckets.popitem(last=False)
            return wait

    def _drop_refilled(self, now: float) -> None:
        """Drop the oldest buckets while they are full again; cheap, as it stops at the first
        one still in use."""
        while self._buckets:
            key, (tokens, last) = next(iter(self._buckets.items()))
            if tokens + (now - last) * self.rate < self.burst:
                return
            del self._buckets[key]


def source_of(address: str) -> str:
    """The address a bucket is kept for: IPv4 as it is (IPv4-mapped IPv6 too), IPv6 by its
    /64; anything unparsable (a Unix socket, a test's fake) as given."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
