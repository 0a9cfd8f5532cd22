"""Garbage-collector pauses, and why the bot freezes the heap it starts with.

CPython's cycle collector stops the whole process while a full (generation 2) collection
walks every container object it tracks. After start-up the bot holds about 160,000 of them
that live as long as the process: imported modules, SQLAlchemy's mappers and compiled
statements, Jinja's templates, the first page snapshot. Under load a full collection ran
every few seconds and took 80-145 ms, each one a stall of every command, IRC PING and page
request at once; they were most of the soak's event loop lag above 50 ms (tests/reliability/
test_soak.py, bench/RESULTS.md).

`gc.freeze()` moves every object alive at that moment into a permanent generation that
collections skip. Done once, when the bot is up, a full collection walks only what was made
since (a few thousand objects: 2-6 ms). The cost is that a frozen object that later becomes
part of a garbage cycle is never reclaimed; what start-up builds lives for the process
anyway, so that is a few kilobytes at most, against a tenth of a second per collection.

Only for a process that is the bot: a test or a library embedding `App` keeps its own heap
as it is.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger("statusdesk.gc")


def freeze_startup_heap() -> int:
    """Collect what start-up left behind, then freeze everything alive; returns how many
    objects the collector will no longer walk."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug("froze %d start-up objects out of the garbage collector's full collections",
              frozen)
    return frozen


FULL_COLLECTION_EVERY = 100
"""Young-generation collections between two full ones (CPython's default is 10)."""


def spread_full_collections() -> None:
    """Make full collections ten times rarer.

    Freezing covers the start-up heap, not what the bot holds later. Under a crowd of
    ten thousand open connections (tests/security/test_hostile_crowd.py), each holds a
    score of tracked objects (its protocol, parser, task, futures) that live for seconds,
    long enough to reach the old generation; full collections then came every 2-3 s and
    each walked 200,000-260,000 objects: 80-250 ms with the loop stopped, which made the
    health check miss its 100 ms and, while the crowd was still connecting, let the listen
    queue overflow (a dropped SYN costs a client a whole second). With this setting, one
    full collection over 20 ms in a 30 s crowd instead of 13. What it costs: garbage
    cycles that reached the old generation wait about ten times longer to be freed."""
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)
