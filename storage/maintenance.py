"""Maintenance windows: the schedule of incidents of kind `maintenance` and their timer marks.

A window is an `Incident` row (kind `maintenance`, so it shares the incident id space) plus a
`MaintenanceWindow` row. Its phase is mirrored in `incidents.state` (scheduled, in_progress,
completed, cancelled): states no plain incident has, so open-incident lists, reminders and
`/history` never take a maintenance for an incident.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Incident, MaintenanceWindow

MAINTENANCE = "maintenance"
"""`incidents.kind` of a maintenance window."""

SCHEDULED = "scheduled"
IN_PROGRESS = "in_progress"
COMPLETED = "completed"
CANCELLED = "cancelled"
PHASES = (SCHEDULED, IN_PROGRESS, COMPLETED, CANCELLED)
LIVE_PHASES = (SCHEDULED, IN_PROGRESS)
"""Phases of a window that is still to come or going on."""


@dataclass(frozen=True, slots=True)
class Maintenance:
    """A window with its incident row, as the rules and the page read it."""

    incident: Incident
    window: MaintenanceWindow

    @property
    def id(self) -> int:
        return self.incident.id


@dataclass(frozen=True, slots=True)
class WindowInProgress:
    """A window going on, as `#now` tells it."""

    id: int
    title: str
    ends_at: datetime
    timezone: str


class MaintenanceRepository:
    """Windows change only under their incident's row lock (`get(..., for_update=True)`),
    the same order of locks every writer of incidents takes."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def schedule(
        self, *, title: str, starts_at: datetime, ends_at: datetime, timezone: str,
        components: Sequence[str], scheduled_by: str, at: datetime,
    ) -> Maintenance:
        # Severity means nothing for a maintenance; the mildest keeps it out of the way of
        # anything that orders by it.
        incident = Incident(title=title, severity=4, state=SCHEDULED, is_alert=False,
                            opened_by=scheduled_by, opened_at=at, updated_at=at,
                            kind=MAINTENANCE)
        self._session.add(incident)
        await self._session.flush()
        window = MaintenanceWindow(incident_id=incident.id, starts_at=starts_at,
                                   ends_at=ends_at, timezone=timezone,
                                   components=list(components), phase=SCHEDULED)
        self._session.add(window)
        await self._session.flush()
        return Maintenance(incident, window)

    async def get(self, incident_id: int, *, for_update: bool = False) -> Maintenance | None:
        """The window with this id (None: no such id, or a plain incident)."""
        query = (select(Incident, MaintenanceWindow)
                 .join(MaintenanceWindow, MaintenanceWindow.incident_id == Incident.id)
                 .where(Incident.id == incident_id))
        if for_update:
            query = query.with_for_update().execution_options(populate_existing=True)
        row = (await self._session.execute(query)).one_or_none()
        return Maintenance(row[0], row[1]) if row is not None else None

    async def live(self) -> list[Maintenance]:
        """Windows to come or going on, soonest start first."""
        query = (select(Incident, MaintenanceWindow)
                 .join(MaintenanceWindow, MaintenanceWindow.incident_id == Incident.id)
                 .where(MaintenanceWindow.phase.in_(LIVE_PHASES))
                 .order_by(MaintenanceWindow.starts_at, Incident.id))
        return [Maintenance(i, w) for i, w in (await self._session.execute(query)).all()]

    async def recent(self, since: datetime, limit: int = 50) -> list[Maintenance]:
        """Every live window, and the finished ones that ended (or were to end) after
        `since`, newest start first."""
        query = (select(Incident, MaintenanceWindow)
                 .join(MaintenanceWindow, MaintenanceWindow.incident_id == Incident.id)
                 .where(or_(MaintenanceWindow.phase.in_(LIVE_PHASES),
                            MaintenanceWindow.ends_at >= since,
                            MaintenanceWindow.finished_at >= since))
                 .order_by(MaintenanceWindow.starts_at.desc(), Incident.id.desc())
                 .limit(limit))
        return [Maintenance(i, w) for i, w in (await self._session.execute(query)).all()]

    async def due(self, now: datetime, heads_up: datetime | None) -> list[int]:
        """Ids of live windows with a timer due at `now`: a heads-up (`heads_up`: the start
        before which it is due, i.e. now + announce_before), a start, or the end question."""
        conditions = [
            (MaintenanceWindow.phase == SCHEDULED) & (MaintenanceWindow.starts_at <= now),
            (MaintenanceWindow.phase == IN_PROGRESS) & (MaintenanceWindow.ends_at <= now)
            & MaintenanceWindow.end_asked_at.is_(None),
        ]
        if heads_up is not None:
            conditions.append((MaintenanceWindow.phase == SCHEDULED)
                              & MaintenanceWindow.heads_up_at.is_(None)
                              & (MaintenanceWindow.starts_at <= heads_up))
        query = (select(MaintenanceWindow.incident_id).where(or_(*conditions))
                 .order_by(MaintenanceWindow.starts_at, MaintenanceWindow.incident_id))
        return list((await self._session.execute(query)).scalars().all())


def is_maintenance(incident: Incident) -> bool:
    return incident.kind == MAINTENANCE


__all__ = [
    "CANCELLED",
    "COMPLETED",
    "IN_PROGRESS",
    "LIVE_PHASES",
    "MAINTENANCE",
    "PHASES",
    "SCHEDULED",
    "Maintenance",
    "MaintenanceRepository",
    "WindowInProgress",
    "is_maintenance",
]
