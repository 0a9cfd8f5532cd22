"""Domain events: what changed, published after the change is committed.

Publishers (status page, SSE, pager, ...) subscribe to the `EventBus`; a subscriber must not
block, and one that raises is logged and never stops the others or the desk.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

log = logging.getLogger("statusdesk.events")


@dataclass(frozen=True, slots=True)
class DeskEvent:
    """One committed change. `kind` names it, e.g. `alert.set`, `incident.state`."""

    kind: str
    at: datetime
    incident_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)



# The kinds, so subscribers and tests do not spell strings by hand.
ALERT_SET = "alert.set"
ALERT_CLEARED = "alert.cleared"
STATUS_POSTED = "status.posted"
KUDOS_RECORDED = "kudos.recorded"
INCIDENT_OPENED = "incident.opened"
INCIDENT_CHANGED = "incident.changed"
TIMELINE_NOTE = "incident.note"

Subscriber = Callable[[DeskEvent], None]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def publish(self, event: DeskEvent) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber(event)
            except Exception:
                log.exception("event subscriber %r failed on %s", subscriber, event.kind)
