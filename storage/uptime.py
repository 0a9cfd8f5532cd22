"""What the status page's uptime history is computed from: every component's status changes
and the incidents holding components, over a window (DESIGN §1.6, bot/web/uptime.py).

One read per page rebuild for all components together (two queries, whatever the number of
components or days), returned as plain rows: the page keeps no ORM objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ComponentChange, Incident, IncidentComponent


@dataclass(frozen=True, slots=True)
class StatusChangeRow:
    component_id: str
    at: datetime
    old_status: str | None
    """None for the first status a component ever had."""
    new_status: str
    incident_id: int | None


@dataclass(frozen=True, slots=True)
class HoldRow:
    """An incident (or maintenance window) that held a component, from `start` to `end`
    (None: it still does)."""

    component_id: str
    incident_id: int
    title: str
    start: datetime
    end: datetime | None


@dataclass(frozen=True, slots=True)
class UptimeRows:
    changes: Sequence[StatusChangeRow]
    """Oldest first."""
    holds: Sequence[HoldRow]


class UptimeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def since(self, start: datetime) -> UptimeRows:
        """Status changes at or after `start`, and holds that were live at some moment since
        (of every component, declared or not: the caller picks)."""
        changes = await self._session.execute(
            select(ComponentChange.component_id, ComponentChange.at,
                   ComponentChange.old_status, ComponentChange.new_status,
                   ComponentChange.incident_id)
            .where(ComponentChange.at >= start)
            .order_by(ComponentChange.at, ComponentChange.id))
        holds = await self._session.execute(
            select(IncidentComponent.component_id, Incident.id, Incident.title,
                   Incident.opened_at, IncidentComponent.linked_at, Incident.resolved_at,
                   IncidentComponent.released_at)
            .join(Incident, Incident.id == IncidentComponent.incident_id)
            .where(or_(IncidentComponent.released_at.is_(None),
                       IncidentComponent.released_at >= start),
                   or_(Incident.resolved_at.is_(None), Incident.resolved_at >= start))
            .order_by(IncidentComponent.component_id, Incident.id))
        return UptimeRows(
            changes=[StatusChangeRow(*row) for row in changes.all()],
            holds=[HoldRow(component_id, incident_id, title, max(opened, linked),
                           _earliest(resolved, released))
                   for component_id, incident_id, title, opened, linked, resolved, released
                   in holds.all()],
        )


def _earliest(*moments: datetime | None) -> datetime | None:
    present = [m for m in moments if m is not None]
    return min(present) if present else None
