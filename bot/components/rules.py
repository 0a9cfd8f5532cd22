"""The hold rule, without I/O: what status a component takes when something holds it, when
an operator sets it, and when a holder lets go.

A component may be held by several things at once (incidents today, maintenance windows —
incidents of kind maintenance — too); each hold carries a status and the worst one wins.
"""

from __future__ import annotations

from collections.abc import Iterable

from commands.component_status import OPERATIONAL, worst


def after_link(current: str, status: str, other_holds: Iterable[str]) -> str:
    """A new (or renewed) hold at `status`. With other live holds, the status is theirs and
    this one's, worst wins; with none, an operator's word (`current`) is not lowered by it."""
    others = list(other_holds)
    if others:
        return worst([status, *others])
    return worst([current, status])


def after_release(remaining_holds: Iterable[str]) -> str:
    """A holder let go: the worst of what still holds it, else operational."""
    return worst(remaining_holds, default=OPERATIONAL)
