"""Token buckets in memory, one per key (a customer, an extension, an address).

A bucket holds at most ``burst`` tokens and gains ``rate`` per second; a
request takes one. ``take(key)`` returns 0.0 when it got a token, else the
seconds until one is available (the ``Retry-After``). At most ``max_keys``
buckets are kept: the least recently used is forgotten (a full bucket, so
forgetting is only ever lenient). Not shared between processes.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable


class KeyedLimiter:
    def __init__(self, rate: float, burst: int, *, max_keys: int = 10000,
                 clock: Callable[[], float] = time.monotonic):
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate, self.burst, self.max_keys, self.clock = float(rate), float(burst), max_keys, clock
        self._buckets: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    def _tokens(self, key: Hashable, now: float) -> float:
        tokens, at = self._buckets.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - at) * self.rate)

    def available(self, key: Hashable) -> float:
        """Seconds until ``key`` may take a token (0.0: now); takes nothing."""
        tokens = self._tokens(key, self.clock())
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def take(self, key: Hashable) -> float:
        now = self.clock()
        tokens = self._tokens(key, now)
        if tokens < 1.0:
            return (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens - 1.0, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return 0.0

    def __len__(self) -> int:
        return len(self._buckets)
