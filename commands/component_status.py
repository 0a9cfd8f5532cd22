"""Component status words (DESIGN §1.6): the Statuspage values, their chat aliases, how bad
each one is, and the worst of several (when several things hold a component, worst wins).

Pure: no I/O, nothing of bot/ or storage/.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

__all__ = [
    "COMPONENT_STATUSES",
    "DEGRADED_PERFORMANCE",
    "MAJOR_OUTAGE",
    "OPERATIONAL",
    "PARTIAL_OUTAGE",
    "STATUS_ALIASES",
    "STATUS_WORDS_HELP",
    "UNDER_MAINTENANCE",
    "is_broadcast_worthy",
    "label",
    "parse_status",
    "rank",
    "worst",
]

OPERATIONAL: Final = "operational"
UNDER_MAINTENANCE: Final = "under_maintenance"
DEGRADED_PERFORMANCE: Final = "degraded_performance"
PARTIAL_OUTAGE: Final = "partial_outage"
MAJOR_OUTAGE: Final = "major_outage"

COMPONENT_STATUSES: Final = (
    OPERATIONAL, DEGRADED_PERFORMANCE, PARTIAL_OUTAGE, MAJOR_OUTAGE, UNDER_MAINTENANCE,
)
"""The Statuspage values, in the order Statuspage lists them."""

STATUS_ALIASES: Final = {
    "ok": OPERATIONAL,
    "degraded": DEGRADED_PERFORMANCE,
    "partial": PARTIAL_OUTAGE,
    "major": MAJOR_OUTAGE,
    "maintenance": UNDER_MAINTENANCE,
}
"""Short words chat also accepts."""

_RANK: Final = {
    OPERATIONAL: 0,
    # Planned work is worse than nothing but better than any unplanned trouble: an outage
    # during a maintenance window shows as the outage.
    UNDER_MAINTENANCE: 1,
    DEGRADED_PERFORMANCE: 2,
    PARTIAL_OUTAGE: 3,
    MAJOR_OUTAGE: 4,
}

_LABELS: Final = {
    OPERATIONAL: "operational",
    UNDER_MAINTENANCE: "under maintenance",
    DEGRADED_PERFORMANCE: "degraded performance",
    PARTIAL_OUTAGE: "partial outage",
    MAJOR_OUTAGE: "major outage",
}

STATUS_WORDS_HELP: Final = (
    "operational (ok), degraded_performance (degraded), partial_outage (partial), "
    "major_outage (major), under_maintenance (maintenance)"
)
"""The valid words, as a usage reply names them."""


def parse_status(word: str) -> str | None:
    """The status a chat word stands for (a value or an alias, any case), else None."""
    lowered = word.lower()
    if lowered in _RANK:
        return lowered
    return STATUS_ALIASES.get(lowered)


def rank(status: str) -> int:
    """How bad `status` is: operational 0 < under_maintenance < degraded < partial < major.
    ValueError for a word that is not a status."""
    try:
        return _RANK[status]
    except KeyError:
        raise ValueError(f"not a component status: {status!r}") from None


def worst(statuses: Iterable[str], default: str = OPERATIONAL) -> str:
    """The worst of `statuses` (`default` when there are none)."""
    found = default
    for status in statuses:
        if rank(status) > rank(found):
            found = status
    return found


def label(status: str) -> str:
    """`major_outage` -> `major outage`, for people."""
    return _LABELS.get(status, status)


def is_broadcast_worthy(status: str) -> bool:
    """Worse than degraded: a change to it is announced in every channel."""
    return rank(status) > rank(DEGRADED_PERFORMANCE)
