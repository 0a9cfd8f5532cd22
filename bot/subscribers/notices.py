"""Which desk events subscribers hear about, and what they are told: `notice_for`.

Pure: an event in, a `Notice` (or None) out. A new kind of event that subscribers should hear
about is one more `case` in `notice_for`; everything downstream (fan-out, mail, webhook)
works from the `Notice` alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.core.events import (
    AlertSet,
    ComponentChanged,
    DeskEvent,
    IncidentOpened,
    MaintenanceChanged,
    StateChanged,
    StatusPosted,
    event_fields,
)

OPENED = "incident.opened"
UPDATED = "incident.updated"
RESOLVED = "incident.resolved"
COMPONENT = "component.changed"
MAINTENANCE_PHASES = ("scheduled", "started", "completed", "cancelled")
"""What subscribers hear of a maintenance window (not the heads-up or the overrun: the
channels' business)."""

LABELS = {
    OPENED: "Incident",
    UPDATED: "Update",
    RESOLVED: "Resolved",
    COMPONENT: "Component",
    "maintenance.scheduled": "Maintenance scheduled",
    "maintenance.started": "Maintenance started",
    "maintenance.completed": "Maintenance completed",
    "maintenance.cancelled": "Maintenance cancelled",
}
"""How a mail's subject names each kind (maintenance and component kinds add theirs)."""


@dataclass(frozen=True, slots=True)
class Notice:
    """One thing to tell every subscriber it concerns."""

    kind: str
    """`incident.opened`, `incident.updated`, `incident.resolved`, `component.changed`
    (more as events come)."""
    key: str
    """The same for the same event, whoever computes it: what makes it go out once."""
    at: datetime
    incident_id: int | None = None
    title: str | None = None
    """Filled in at fan-out when the event does not carry it (the incident's title)."""
    text: str | None = None
    status: str | None = None
    components: tuple[str, ...] = field(default=())
    """Ids of the components it touches; empty: it concerns everyone."""

    @property
    def label(self) -> str:
        return LABELS.get(self.kind, "Notice")

    def payload(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "at": self.at.isoformat(),
                "incident_id": self.incident_id, "title": self.title, "text": self.text,
                "status": self.status, "components": list(self.components)}

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Notice:
        incident_id = payload.get("incident_id")
        return cls(kind=payload["kind"], key=payload["key"],
                   at=datetime.fromisoformat(payload["at"]),
                   incident_id=int(incident_id) if incident_id is not None else None,
                   title=payload.get("title"), text=payload.get("text"),
                   status=payload.get("status"),
                   components=tuple(payload.get("components") or ()))


def _key(event: DeskEvent) -> str:
    """Names the event by its type, incident, time and content: two events of one command
    (one time) differ in content, and the same event seen twice has the same key."""
    incident = event.incident_id if event.incident_id is not None else "-"
    content = json.dumps(event_fields(event), sort_keys=True, default=str)
    tag = hashlib.sha256(content.encode()).hexdigest()[:12]
    return f"{type(event).__name__}:{incident}:{event.at.isoformat()}:{tag}"


def notice_for(event: DeskEvent) -> Notice | None:
    """The notice subscribers get for `event`, or None (a private note, a kudos...)."""
    match event:
        case IncidentOpened(at=at, incident_id=incident_id, title=title):
            return Notice(OPENED, _key(event), at, incident_id, title=title,
                          status="investigating")
        case StateChanged(at=at, incident_id=incident_id, new=new, text=text) if event.resolved:
            return Notice(RESOLVED, _key(event), at, incident_id, text=text, status=new)
        case StateChanged(at=at, incident_id=incident_id, new=new, text=text):
            return Notice(UPDATED, _key(event), at, incident_id, text=text, status=new)
        case StatusPosted(at=at, incident_id=int() as incident_id, post="notice", text=text):
            return Notice(UPDATED, _key(event), at, incident_id, text=text)
        case AlertSet(at=at, incident_id=incident_id, text=text):
            return Notice(UPDATED, _key(event), at, incident_id, text=text)
        case ComponentChanged(at=at, incident_id=incident_id, component_id=component_id,
                              name=name, new=new, text=text):
            return Notice(COMPONENT, _key(event), at, incident_id, title=name, text=text,
                          status=new, components=(component_id,))
        case MaintenanceChanged(at=at, incident_id=incident_id, title=title, phase=phase,
                                starts_at=starts_at, ends_at=ends_at,
                                components=components) if phase in MAINTENANCE_PHASES:
            return Notice(f"maintenance.{phase}", _key(event), at, incident_id, title=title,
                          text=window_text(starts_at, ends_at), status=phase,
                          components=tuple(components))
    return None


def window_text(starts_at: datetime, ends_at: datetime) -> str:
    """`Planned: 2026-12-06 10:00 to 11:00 UTC` (to the day too when it ends another day)."""
    start, end = starts_at.astimezone(UTC), ends_at.astimezone(UTC)
    until = end.strftime("%H:%M") if end.date() == start.date() \
        else end.strftime("%Y-%m-%d %H:%M")
    return f"Planned: {start:%Y-%m-%d %H:%M} to {until} UTC"


def reaches(touched: Collection[str], chosen: Collection[str]) -> bool:
    """Whether a notice touching `touched` goes to someone who chose `chosen`: nothing
    chosen means everything; a notice that touches no component concerns everyone."""
    if not chosen or not touched:
        return True
    return not set(touched).isdisjoint(chosen)
