"""Outgoing flood control: a token bucket that says how long to wait, never sleeps itself."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """`burst` lines at once, then `per_second` lines a second.

    Servers disconnect clients that send faster than they allow ("Excess Flood"); the bucket
    keeps us under that while letting a short burst (an answer, one alert) go out at once.
    """

    def __init__(self, burst: int, per_second: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if burst < 1 or per_second <= 0:
            raise ValueError("burst must be >= 1 and per_second > 0")
        self.burst = burst
        self.per_second = per_second
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.per_second)
        self._at = now

    def wait_time(self) -> float:
        """Seconds until a line may be sent (0 when one may go now)."""
        self._refill()
        if self._tokens >= 1.0:
            return 0.0
        return (1.0 - self._tokens) / self.per_second

    def try_take(self) -> bool:
        """Take a token if one is available now."""
        if self.wait_time() > 0:
            return False
        self._tokens -= 1.0
        return True
