"""When to ping a quiet server, when to give it up for dead, and how long to wait before
connecting again."""

from __future__ import annotations

from enum import Enum


class Verdict(Enum):
    FINE = "fine"
    PING = "ping"
    DEAD = "dead"


class Keepalive:
    """Decides, from when the server last said anything, whether to ping it or give it up.

    A server silent for `ping_after` seconds gets one PING (any reply proves the connection
    alive); one silent for `dead_after` seconds is dead, however its TCP socket looks: a
    half-open connection can stay "connected" for hours.
    """

    def __init__(self, *, ping_after: float = 45.0, dead_after: float = 110.0) -> None:
        if not 0 < ping_after < dead_after:
            raise ValueError("need 0 < ping_after < dead_after")
        self.ping_after = ping_after
        self.dead_after = dead_after
        self._pinged_at: float | None = None

    def check(self, now: float, last_heard: float) -> Verdict:
        silent = now - last_heard
        if silent >= self.dead_after:
            return Verdict.DEAD
        if silent < self.ping_after:
            self._pinged_at = None
            return Verdict.FINE
        if self._pinged_at is None or self._pinged_at < last_heard:
            self._pinged_at = now
            return Verdict.PING
        return Verdict.FINE
