"""How late the event loop runs what is due: the one number that says the bot keeps up.

Everything statusdesk does (answering a command, pinging the IRC server, serving the page)
waits its turn on one asyncio loop. A callback that blocks it, or more work than it can
handle, shows first as timers that fire late. `LoopLagMonitor` sleeps a short interval over
and over and records how much later than asked it woke up: a lifetime histogram for
Prometheus, and the last minute's samples for quantiles in /metrics and /healthz.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass

log = logging.getLogger("statusdesk.loop")

INTERVAL = 0.1
"""Seconds between samples: fine enough to catch a 50 ms stall, cheap (10 wake-ups a second)."""
WINDOW = 60.0
"""The recent quantiles cover this many seconds of samples."""
SLOW_LAG = 0.1
"""A recent p99 above this marks the loop `slow` in /healthz and is logged: commands are
answered a noticeable fraction of a second late."""
WARN_EVERY = 60.0
"""At most one `loop is slow` warning per this many seconds."""
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.25, 0.5,
           1.0, 2.5, 5.0, 10.0)
"""Histogram bounds (seconds), dense around the 50 ms a healthy bot stays under."""


@dataclass(frozen=True)
class LagReading:
    """The last `WINDOW` seconds of samples, for /metrics and /healthz."""

    samples: int
    p50: float
    p99: float
    max: float
    total: float = 0.0
    """The samples' sum, for the summary's `_sum` in /metrics."""

    @property
    def slow(self) -> bool:
        return self.p99 > SLOW_LAG


def quantile(ordered: list[float], q: float) -> float:
    """The `q` quantile of sorted samples (nearest rank); 0 when there are none."""
    if not ordered:
        return 0.0
    rank = max(0, min(len(ordered) - 1, int(q * len(ordered) + 0.999999) - 1))
    return ordered[rank]


class LoopLagMonitor:
    def __init__(self, interval: float = INTERVAL, window: float = WINDOW) -> None:
        if interval <= 0 or window < interval:
            raise ValueError("interval must be > 0 and window >= interval")
        self.interval = interval
        self._recent: deque[float] = deque(maxlen=max(1, round(window / interval)))
        self.bucket_counts = [0] * (len(BUCKETS) + 1)
        """Per bucket (not cumulative); the last one counts samples above every bound."""
        self.count = 0
        self.total = 0.0
        self._task: asyncio.Task[None] | None = None
        self._warned_at = float("-inf")

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="loop-lag")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def record(self, lag: float) -> None:
        lag = max(0.0, lag)
        self._recent.append(lag)
        self.bucket_counts[bisect.bisect_left(BUCKETS, lag)] += 1
        self.count += 1
        self.total += lag

    def reading(self) -> LagReading:
        ordered = sorted(self._recent)
        return LagReading(len(ordered), quantile(ordered, 0.5), quantile(ordered, 0.99),
                          ordered[-1] if ordered else 0.0, sum(ordered))

    def cumulative_buckets(self) -> list[tuple[str, int]]:
        """(upper bound, samples at or under it) as Prometheus histograms want them."""
        running = 0
        out = []
        for bound, count in zip((*map(str, BUCKETS), "+Inf"), self.bucket_counts, strict=True):
            running += count
            out.append((bound, running))
        return out

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.interval
            await asyncio.sleep(self.interval)
            self.record(loop.time() - due)
            if self.count % 10 == 0:
                self._warn_if_slow()

    def _warn_if_slow(self) -> None:
        if len(self._recent) < 10:
            return
        now = time.monotonic()
        if now - self._warned_at < WARN_EVERY:
            return
        reading = self.reading()
        if reading.slow:
            self._warned_at = now
            log.warning("the event loop is slow: over the last %d samples, 99%% of wake-ups "
                        "were up to %.0f ms late (worst %.0f ms); commands are answered late",
                        reading.samples, reading.p99 * 1000, reading.max * 1000)
