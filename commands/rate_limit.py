"""Per-person command rate limits: who may be answered now, decided without any I/O.

Each sender (by the identity their transport verified) has a token bucket: `burst` commands
at once, then `per_second`. A sender who runs dry is ignored until the bucket is full again,
and told so exactly once; whatever else they send meanwhile is dropped without a word, so a
flood costs the bot neither output lines nor database rows.

Memory stays bounded however many senders come and go: a sender whose bucket has refilled
is indistinguishable from a new one and is forgotten, and at most `max_senders` are kept.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from commands.auth import Identity

DEFAULT_MAX_SENDERS = 10_000
"""Senders tracked at once; beyond it the longest-quiet are forgotten first."""


class Verdict(Enum):
    ALLOW = "allow"
    WARN = "warn"
    """Over the limit just now: answer with the one warning, audit it, log it."""
    DROP = "drop"
    """Still over the limit and already warned: ignore silently."""


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    retry_after: float = 0.0
    """With WARN: seconds until this sender is answered again."""

    @property
    def allowed(self) -> bool:
        return self.verdict is Verdict.ALLOW

    @property
    def pause(self) -> int:
        """`retry_after` in whole seconds, rounded up: what the sender is told."""
        return max(1, math.ceil(self.retry_after))


@dataclass(frozen=True, slots=True)
class Allowance:
    burst: int
    per_second: float

    def __post_init__(self) -> None:
        if self.burst < 1 or not self.per_second > 0:
            raise ValueError("burst must be >= 1 and per_second > 0")


@dataclass(slots=True)
class _Bucket:
    allowance: Allowance
    tokens: float
    at: float
    silenced_until: float | None = None

    def refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.at)
        self.tokens = min(float(self.allowance.burst),
                          self.tokens + elapsed * self.allowance.per_second)
        self.at = max(self.at, now)

    def idle(self, now: float) -> bool:
        """Full and not silenced: the same as a sender never seen."""
        if self.silenced_until is not None and now < self.silenced_until:
            return False
        elapsed = max(0.0, now - self.at)
        return self.tokens + elapsed * self.allowance.per_second >= self.allowance.burst


class CommandRateLimit:
    """`admit(identity, whitelisted)` for every command; the clock is injected for tests.

    Whitelisted people get their own, larger allowance (or none at all): an operator posting
    updates through an outage must never be told to slow down, while a stranger's flood is
    cut off after a few answers.
    """

    def __init__(self, everyone: Allowance, whitelisted: Allowance | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 max_senders: int = DEFAULT_MAX_SENDERS) -> None:
        if max_senders < 1:
            raise ValueError("max_senders must be >= 1")
        self.everyone = everyone
        self.whitelisted = whitelisted
        self._clock = clock
        self._max = max_senders
        # Least recently active first: forgetting walks from the front and stops at the
        # first sender still counting.
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def admit(self, identity: Identity, *, whitelisted: bool) -> Decision:
        """May this sender's command be handled now?"""
        key = sender_key(identity)
        allowance = self.whitelisted if whitelisted else self.everyone
        if key is None or allowance is None:
            return Decision(Verdict.ALLOW)
        return self.check(key, allowance)

    def check(self, key: str, allowance: Allowance) -> Decision:
        now = self._clock()
        self._forget_idle(now)
        bucket = self._buckets.get(key)
        if bucket is None or bucket.allowance != allowance:
            bucket = _Bucket(allowance, float(allowance.burst), now)
            self._buckets[key] = bucket
            while len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        self._buckets.move_to_end(key)
        if bucket.silenced_until is not None:
            if now < bucket.silenced_until:
                return Decision(Verdict.DROP)
            bucket.silenced_until = None
        bucket.refill(now)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return Decision(Verdict.ALLOW)
        # Ignore them until the bucket is full: one clear pause instead of a trickle of
        # answers interleaved with more warnings.
        wait = (allowance.burst - bucket.tokens) / allowance.per_second
        bucket.silenced_until = now + wait
        return Decision(Verdict.WARN, retry_after=wait)

    def _forget_idle(self, now: float) -> None:
        while self._buckets:
            key, bucket = next(iter(self._buckets.items()))
            if not bucket.idle(now):
                return
            del self._buckets[key]


def sender_key(identity: Identity) -> str | None:
    """Who a command counts against: the strongest identity verified; None means exempt.

    IRC: the services account when known (it follows the person across nicks and
    connections), else `user@host` from their mask: the nick is left out, or a `/nick`
    would buy a fresh allowance. Matrix: the user id. The local operator at the console is
    never limited.
    """
    if identity.local_operator:
        return None
    network = identity.network or ""
    if identity.transport == "matrix" and identity.matrix_user:
        return f"matrix/{identity.matrix_user}"
    if identity.transport == "irc":
        if identity.account:
            return f"irc/{network}/account:{identity.fold(identity.account)}"
        if identity.host_mask:
            user_at_host = identity.host_mask.partition("!")[2] or identity.host_mask
            return f"irc/{network}/host:{identity.fold(user_at_host)}"
    return f"{identity.transport}/{network}/nick:{identity.fold(identity.nick)}"


def warning_text(decision: Decision) -> str:
    return f"slow down — you sent too many commands; ignoring you for {decision.pause} s"
