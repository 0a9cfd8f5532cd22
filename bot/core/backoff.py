"""How long to wait before trying again: one rule for reconnecting transports, rejoining
channels and redelivering effects."""

from __future__ import annotations

import random


def jittered_backoff(failures: int, *, cap: float, base: float = 1.0,
                     rng: random.Random | None = None) -> float:
    """Seconds before the next try: between half and all of `base * 2**failures`, capped.

    The jitter keeps several bots (or networks, or effects) that failed at the same moment
    from all trying again at the same instant when the far end comes back.
    """
    ceiling = min(cap, base * 2.0 ** min(max(failures, 0), 32))
    return (rng or random).uniform(ceiling / 2, ceiling)
