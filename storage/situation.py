"""The situation as `#now` tells it, read in one statement.

`#now` needs five small reads: the open incidents with their newest public entries, the
roles held in them, the components that are not operational, the maintenance windows in
progress and the alert. As five statements each cost about a millisecond beyond its rows
(SQLAlchemy, the driver; on SQLite four hand-offs to aiosqlite's thread each), most of what
`#now` took; as one UNION ALL they are one round trip. Every part is a row of the same
generic columns, its number first; `SituationRepository.read` sorts them out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, literal_column, select, true, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.components import OPERATIONAL
from storage.incidents import OPEN_STATES, OpenIncidentSummary, PublicUpdate
from storage.maintenance import IN_PROGRESS, WindowInProgress
from storage.models import (
    Component,
    CurrentAlert,
    Incident,
    IncidentRole,
    MaintenanceWindow,
    TimelineEntry,
)
from storage.status_posts import ALERT_ROW, AlertInForce

_INCIDENT, _ROLE, _COMPONENT, _WINDOW, _ALERT = range(5)


@dataclass(slots=True)
class Situation:
    open_incidents: list[OpenIncidentSummary] = field(default_factory=list)
    """By id."""
    roles: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    """Open incident id -> its `incident_roles` rows as (role, nick), sorted."""
    components: list[tuple[str, str]] = field(default_factory=list)
    """(name, status) of the declared components that are not operational, in page order."""
    maintenance: list[WindowInProgress] = field(default_factory=list)
    """Windows in progress, soonest start first."""
    alert: AlertInForce | None = None


def _statement(*, sqlite: bool) -> Any:
    """Columns of every part: part, id, eight texts, a number, a flag, two times. The
    incidents come first: the result's column types (times read back as UTC, the flag as a
    bool) are taken from the first part. Each part is read by an index (the open incidents
    by ix_incidents_state, their newest public entries by ix_incident_events_public, roles
    by their key, windows by ix_maintenance_windows_phase, the alert by its key) but the
    components, which are as many as the configuration declares."""
    is_open: Any = Incident.state.in_(OPEN_STATES)
    if sqlite:
        # See IncidentRepository._is_open: without it SQLite reads every incident.
        is_open = func.unlikely(is_open)
    entry = aliased(TimelineEntry)
    newest = aliased(TimelineEntry)
    newest_id = (select(newest.id)
                 .where(newest.incident_id == Incident.id, newest.public == true())
                 .order_by(newest.id.desc()).limit(1).scalar_subquery())

    def part(number: int) -> Any:
        return literal_column(str(number))

    def blank(count: int) -> list[Any]:
        # Objects of their own: a select drops a column object it already has.
        return [literal_column("NULL") for _ in range(count)]

    incidents = (select(part(_INCIDENT), Incident.id, Incident.title, Incident.state,
                        Incident.lead, Incident.manager, entry.kind, entry.text,
                        entry.old_value, entry.new_value, Incident.severity,
                        Incident.is_alert, Incident.opened_at, entry.at)
                 .outerjoin(entry, entry.id == newest_id).where(is_open))
    roles = (select(part(_ROLE), IncidentRole.incident_id, IncidentRole.role, IncidentRole.nick,
                    *blank(10))
             .join(Incident, Incident.id == IncidentRole.incident_id).where(is_open))
    components = (select(part(_COMPONENT), *blank(1), Component.name, Component.status,
                         Component.id, *blank(5), Component.position, *blank(3))
                  .where(Component.declared.is_(True), Component.status != OPERATIONAL))
    windows = (select(part(_WINDOW), Incident.id, Incident.title, MaintenanceWindow.timezone,
                      *blank(8), MaintenanceWindow.ends_at,
                      MaintenanceWindow.starts_at)
               .join(MaintenanceWindow, MaintenanceWindow.incident_id == Incident.id)
               .where(MaintenanceWindow.phase == IN_PROGRESS))
    alert = (select(part(_ALERT), CurrentAlert.incident_id, CurrentAlert.text,
                    CurrentAlert.set_by, *blank(8), CurrentAlert.set_at, *blank(1))
             .where(CurrentAlert.id == ALERT_ROW))
    return union_all(incidents, roles, components, windows, alert)


_SITUATION = {False: _statement(sqlite=False), True: _statement(sqlite=True)}
"""Built once per dialect: building it would cost about as much as running it."""


class SituationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def read(self) -> Situation:
        sqlite = self._session.get_bind().dialect.name == "sqlite"
        found = Situation()
        components: list[tuple[int, str, str, str]] = []
        windows: list[tuple[Any, int, WindowInProgress]] = []
        for (number, row_id, s1, s2, s3, s4, s5, s6, s7, s8, count, flag, t1,
             t2) in await self._session.execute(_SITUATION[sqlite]):
            if number == _INCIDENT:
                latest = PublicUpdate(t2, s5, s6, s7, s8) if s5 is not None else None
                found.open_incidents.append(OpenIncidentSummary(
                    row_id, s1, count, s2, s3, s4, t1, flag, latest))
            elif number == _ROLE:
                found.roles.setdefault(row_id, []).append((s1, s2))
            elif number == _COMPONENT:
                components.append((count, s3, s1, s2))
            elif number == _WINDOW:
                windows.append((t2, row_id, WindowInProgress(row_id, s1, t1, s2)))
            else:
                found.alert = AlertInForce(s1, s2, t1, row_id)
        found.open_incidents.sort(key=lambda incident: incident.id)
        for held in found.roles.values():
            held.sort()
        found.components = [(name, status) for _, _, name, status in sorted(components)]
        found.maintenance = [window for _, _, window in
                             sorted(windows, key=lambda one: (one[0], one[1]))]
        return found
