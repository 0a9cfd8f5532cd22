"""Pages and on-call overrides: the durable state of paging (escalation timers included)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import OnCallOverride, PageRecord

TRIGGERED = "triggered"
ESCALATED = "escalated"
ACKNOWLEDGED = "acknowledged"
RESOLVED = "resolved"
FAILED = "failed"

LIVE = (TRIGGERED, ESCALATED, FAILED)
"""Statuses of a page nobody has acknowledged yet, in a round that is still going on."""

WAITING = (TRIGGERED, FAILED)
"""Statuses of the step an escalation timer may run for."""


class PageRepository:
    """Pages are changed only under their incident's row lock (`incidents.get(for_update=
    True)` first), so every writer takes locks in the same order and none deadlocks; the
    queries below re-read rows already in the session (`populate_existing`) to see what the
    lock holder before them committed."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, **fields: Any) -> PageRecord:
        page = PageRecord(**fields)
        self._session.add(page)
        await self._session.flush()
        return page

    async def get(self, page_id: int, *, for_update: bool = False) -> PageRecord | None:
        query = select(PageRecord).where(PageRecord.id == page_id)
        if for_update:
            query = query.with_for_update().execution_options(populate_existing=True)
        return (await self._session.execute(query)).scalar_one_or_none()

    async def by_dedup_key(self, dedup_key: str) -> PageRecord | None:
        query = select(PageRecord).where(PageRecord.dedup_key == dedup_key)
        return (await self._session.execute(query)).scalar_one_or_none()

    async def last_round(self, incident_id: int) -> int:
        """The number of the incident's latest round of paging (0: never paged)."""
        query = select(func.max(PageRecord.round)).where(PageRecord.incident_id == incident_id)
        return int((await self._session.execute(query)).scalar_one_or_none() or 0)

    async def live(self, incident_id: int | None = None) -> Sequence[PageRecord]:
        """Unacknowledged pages of rounds still going on, oldest first (all incidents when
        `incident_id` is None)."""
        query = (
            select(PageRecord)
            .where(PageRecord.status.in_(LIVE))
            .order_by(PageRecord.id)
            .execution_options(populate_existing=True)
        )
        if incident_id is not None:
            query = query.where(PageRecord.incident_id == incident_id)
        return (await self._session.execute(query)).scalars().all()

    async def unresolved(self, incident_id: int) -> Sequence[PageRecord]:
        """Every page of the incident not resolved yet, acknowledged ones included."""
        query = (
            select(PageRecord)
            .where(PageRecord.incident_id == incident_id, PageRecord.status != RESOLVED)
            .order_by(PageRecord.id)
            .execution_options(populate_existing=True)
        )
        return (await self._session.execute(query)).scalars().all()

    async def due(self, now: datetime) -> Sequence[PageRecord]:
        """Steps whose escalation timer has run out."""
        query = (
            select(PageRecord)
            .where(PageRecord.status.in_(WAITING), PageRecord.escalate_at <= now)
            .order_by(PageRecord.escalate_at, PageRecord.id)
        )
        return (await self._session.execute(query)).scalars().all()

    async def next_escalation_at(self) -> datetime | None:
        query = select(func.min(PageRecord.escalate_at)).where(
            PageRecord.status.in_(WAITING), PageRecord.escalate_at.is_not(None)
        )
        return (await self._session.execute(query)).scalar_one_or_none()

    async def of_incident(self, incident_id: int) -> Sequence[PageRecord]:
        query = (
            select(PageRecord)
            .where(PageRecord.incident_id == incident_id)
            .order_by(PageRecord.id)
        )
        return (await self._session.execute(query)).scalars().all()


class OverrideRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self, manager: str, starts_at: datetime, ends_at: datetime, created_by: str,
        at: datetime,
    ) -> OnCallOverride:
        override = OnCallOverride(manager=manager, starts_at=starts_at, ends_at=ends_at,
                                  created_by=created_by, created_at=at)
        self._session.add(override)
        await self._session.flush()
        return override

    async def in_force_after(self, now: datetime) -> Sequence[OnCallOverride]:
        """Overrides that have not ended by `now`, oldest first (a later one wins)."""
        query = (
            select(OnCallOverride)
            .where(OnCallOverride.ends_at > now)
            .order_by(OnCallOverride.id)
        )
        return (await self._session.execute(query)).scalars().all()
