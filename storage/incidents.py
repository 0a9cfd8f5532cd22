"""Incidents: the aggregate's current state (its history lives in `storage.timeline`)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, true, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.models import Incident, TimelineEntry

OPEN_STATES = ("investigating", "identified", "monitoring")


def _open_with_latest(*, sqlite: bool) -> Any:
    """Open incidents (by ix_incidents_state; `unlikely` on SQLite, see `_is_open`), each
    joined to its newest public entry: one seek on ix_incident_events_public per incident
    (`public = true`, not `IS true`, which is no index condition on PostgreSQL). Built once
    per dialect: building it cost about as much as running it. Plain columns, not ORM
    objects: `#now` only reads them, and building the objects cost more than the read."""
    entry = aliased(TimelineEntry)
    newest = aliased(TimelineEntry)
    newest_id = (select(newest.id)
                 .where(newest.incident_id == Incident.id, newest.public == true())
                 .order_by(newest.id.desc()).limit(1).scalar_subquery())
    condition: Any = Incident.state.in_(OPEN_STATES)
    if sqlite:
        condition = func.unlikely(condition)
    return (select(Incident.id, Incident.title, Incident.severity, Incident.state,
                   Incident.lead, Incident.manager, Incident.opened_at, Incident.is_alert,
                   entry.id, entry.at, entry.kind, entry.text, entry.old_value,
                   entry.new_value)
            .outerjoin(entry, entry.id == newest_id)
            .where(condition).order_by(Incident.id))


_OPEN_WITH_LATEST = {False: _open_with_latest(sqlite=False),
                     True: _open_with_latest(sqlite=True)}


@dataclass(frozen=True, slots=True)
class PublicUpdate:
    """An incident's newest public timeline entry, the fields an answer shows of it."""

    at: datetime
    kind: str
    text: str | None
    old_value: str | None
    new_value: str | None


@dataclass(frozen=True, slots=True)
class OpenIncidentSummary:
    """An open incident as `#now` and `#incident list` read it: the columns they show, and
    its newest public entry (None: it has none). Read only; a command that changes an
    incident reads it as an `Incident` (`get(..., for_update=True)`)."""

    id: int
    title: str
    severity: int
    state: str
    lead: str | None
    manager: str | None
    opened_at: datetime
    is_alert: bool
    latest: PublicUpdate | None


@dataclass(frozen=True, slots=True)
class Milestones:
    """An incident's state and milestone stamps, without the rest of the row: what /metrics
    needs of every incident ever opened, read as plain rows (no ORM objects, which made each
    scrape hold the event loop ~100 ms once there were a few thousand incidents)."""

    state: str
    opened_at: datetime
    acknowledged_at: datetime | None
    identified_at: datetime | None
    monitoring_at: datetime | None
    resolved_at: datetime | None

MILESTONE_COLUMNS = {
    "identified": "identified_at",
    "monitoring": "monitoring_at",
    "resolved": "resolved_at",
}
"""The state whose first arrival is stamped, and the column that keeps the stamp."""


class IncidentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def open(
        self, *, title: str, severity: int, opened_by: str, at: datetime, is_alert: bool = False
    ) -> Incident:
        incident = Incident(
            title=title,
            severity=severity,
            state="investigating",
            is_alert=is_alert,
            opened_by=opened_by,
            opened_at=at,
            updated_at=at,
        )
        self._session.add(incident)
        await self._session.flush()
        return incident

    async def get(self, incident_id: int, *, for_update: bool = False) -> Incident | None:
        query = select(Incident).where(Incident.id == incident_id)
        if for_update:
            query = query.with_for_update()
        return (await self._session.execute(query)).scalar_one_or_none()

    def _is_open(self) -> Any:
        """`state IN (open states)`, found by ix_incidents_state. Once ANALYZE has run, SQLite
        knows `state` has a handful of values and, having no histogram, reads every incident
        instead of the index to find the few open ones (EXPLAIN: SCAN incidents); `unlikely`
        tells it. PostgreSQL's statistics know open states are rare."""
        condition = Incident.state.in_(OPEN_STATES)
        if self._session.get_bind().dialect.name == "sqlite":
            return func.unlikely(condition)
        return condition

    async def list_open(self) -> Sequence[Incident]:
        query = select(Incident).where(self._is_open()).order_by(Incident.id)
        return (await self._session.execute(query)).scalars().all()

    async def list_open_with_latest(self) -> list[OpenIncidentSummary]:
        """The open incidents, each with its newest public timeline entry, in one
        statement: `#now` read them in two."""
        sqlite = self._session.get_bind().dialect.name == "sqlite"
        found = []
        for (incident_id, title, severity, state, lead, manager, opened_at, is_alert,
             entry_id, at, kind, text, old_value, new_value) in await self._session.execute(
                _OPEN_WITH_LATEST[sqlite]):
            latest = (PublicUpdate(at, kind, text, old_value, new_value)
                      if entry_id is not None else None)
            found.append(OpenIncidentSummary(incident_id, title, severity, state, lead,
                                             manager, opened_at, is_alert, latest))
        return found

    async def open_alert_incident(self) -> Incident | None:
        return (await self._session.execute(_OPEN_ALERT_INCIDENT)).scalar_one_or_none()

    async def list_all(
        self, *, open_only: bool = False, limit: int | None = None, offset: int = 0
    ) -> Sequence[Incident]:
        query = select(Incident).order_by(Incident.id.desc()).offset(offset)
        if open_only:
            query = query.where(Incident.state.in_(OPEN_STATES))
        if limit is not None:
            query = query.limit(limit)
        return (await self._session.execute(query)).scalars().all()

    async def milestones_of(
        self, *, ids: Collection[int] = (), open_now: bool = False, after_id: int | None = None,
        resolved_since: datetime | None = None, limit: int | None = None,
    ) -> list[tuple[int, Milestones]]:
        """(id, milestones) of the incidents (not maintenance windows) that are `ids`, or open
        now, or above `after_id` (the lowest `limit` of those), or up to `after_id` and
        resolved at or after `resolved_since`. One statement, each part of it served by an
        index (primary key, state, resolved_at), so what a /metrics refresh reads grows with
        what changed, not with history (bot/incidents/milestone_tally.py). An incident in
        several parts comes back once per part."""
        columns = (Incident.id, Incident.state, Incident.opened_at, Incident.acknowledged_at,
                   Incident.identified_at, Incident.monitoring_at, Incident.resolved_at)
        incident = Incident.kind == "incident"
        parts: list[Any] = []
        if ids:
            parts.append(select(*columns).where(incident, Incident.id.in_(sorted(ids))))
        if open_now:
            parts.append(select(*columns).where(incident, self._is_open()))
        if resolved_since is not None:
            resolved = select(*columns).where(incident, Incident.resolved_at >= resolved_since)
            if after_id is not None:
                # Resolved again, among those read already: while the first refresh catches
                # up, the rest of history would otherwise come in one read.
                # (`id + 0`: a condition no index serves, so the planner keeps to the index
                # on resolved_at; on `id <= ?` SQLite walked the primary key through history.)
                resolved = resolved.where(Incident.id + 0 <= after_id)
            parts.append(resolved)
        if after_id is not None:
            new: Any = select(*columns).where(incident, Incident.id > after_id)
            if limit is not None:
                # A part with its own LIMIT must be a subquery inside a UNION (SQLite).
                new = select(new.order_by(Incident.id).limit(limit).subquery())
            parts.append(new)
        if not parts:
            return []
        query: Any = parts[0] if len(parts) == 1 else union_all(*parts)
        rows = (await self._session.execute(query)).all()
        return [(row[0], Milestones(*row[1:])) for row in rows]

    async def milestones(self) -> list[Milestones]:
        # Maintenance windows share the table; they are not incidents to count or time.
        query = select(Incident.state, Incident.opened_at, Incident.acknowledged_at,
                       Incident.identified_at, Incident.monitoring_at,
                       Incident.resolved_at).where(Incident.kind == "incident")
        return [Milestones(*row) for row in (await self._session.execute(query)).all()]

    async def list_resolved(self, *, limit: int, offset: int = 0) -> Sequence[Incident]:
        """Resolved incidents, the most recently resolved first."""
        query = (
            select(Incident)
            .where(Incident.state == "resolved")
            .order_by(Incident.resolved_at.desc(), Incident.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return (await self._session.execute(query)).scalars().all()

    @staticmethod
    def set_state(incident: Incident, state: str, at: datetime) -> None:
        """Change state, stamping the milestone the first time it is reached."""
        incident.state = state
        column = MILESTONE_COLUMNS.get(state)
        if column is not None and getattr(incident, column) is None:
            setattr(incident, column, at)
        if state != "resolved":
            # A reopened incident will be resolved again later; that later time is the one
            # that counts (the first resolution stays in the timeline).
            incident.resolved_at = None
        incident.updated_at = at


# Built once: every `#status notice` and `#status alert` reads it, and building it again
# (the IN list coerced each time) was ~250 of the ~3,700 Python calls of a notice.
_OPEN_ALERT_INCIDENT = (
    select(Incident)
    .where(Incident.state.in_(OPEN_STATES), Incident.is_alert.is_(True))
    .order_by(Incident.id.desc())
    .limit(1)
)
