"""A sliding-window limit per key (an address, a client): at most `limit` in `window`."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

MAX_KEYS = 100_000
"""Beyond this many keys the oldest are dropped: a flood of distinct keys costs bounded
memory (and only lets the flood through sooner, which the other limit still catches)."""


class Throttle:
    def __init__(self, limit: int, window: float, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}

    def allow(self, key: str) -> float | None:
        """None: allowed (and counted). Else the seconds until it would be."""
        now = self._clock()
        times = self._seen.pop(key, None) or deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        self._seen[key] = times  # re-inserted: the dict keeps keys in last-use order
        if len(times) >= self.limit:
            return times[0] + self.window - now
        times.append(now)
        while len(self._seen) > MAX_KEYS:
            del self._seen[next(iter(self._seen))]
        return None
