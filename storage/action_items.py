"""Action items: follow-ups of incidents, one id sequence for all (`A7`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ActionItem

OPEN = "open"
DONE = "done"
DROPPED = "dropped"


class ActionItemRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, incident_id: int, text: str, *, owner: str | None, due: date | None,
                  created_by: str, at: datetime) -> ActionItem:
        item = ActionItem(incident_id=incident_id, text=text, owner=owner, due=due,
                          state=OPEN, created_by=created_by, created_at=at)
        self._session.add(item)
        await self._session.flush()
        return item

    async def get(self, action_id: int, *, for_update: bool = False) -> ActionItem | None:
        query = select(ActionItem).where(ActionItem.id == action_id)
        if for_update:
            query = query.with_for_update().execution_options(populate_existing=True)
        return (await self._session.execute(query)).scalar_one_or_none()

    async def of(self, incident_id: int) -> Sequence[ActionItem]:
        """Every item of one incident, open or not, in the order they were added."""
        query = (select(ActionItem).where(ActionItem.incident_id == incident_id)
                 .order_by(ActionItem.id))
        return (await self._session.execute(query)).scalars().all()

    async def open(self, incident_id: int | None = None, *, limit: int | None = None
                   ) -> Sequence[ActionItem]:
        """Open items (of one incident, or all), oldest first."""
        query = select(ActionItem).where(ActionItem.state == OPEN).order_by(ActionItem.id)
        if incident_id is not None:
            query = query.where(ActionItem.incident_id == incident_id)
        if limit is not None:
            query = query.limit(limit)
        return (await self._session.execute(query)).scalars().all()

    async def overdue(self, today: date) -> Sequence[ActionItem]:
        """Open items whose due date has passed (due before `today`)."""
        query = (select(ActionItem)
                 .where(ActionItem.state == OPEN, ActionItem.due.is_not(None),
                        ActionItem.due < today)
                 .order_by(ActionItem.id))
        return (await self._session.execute(query)).scalars().all()

    async def filed(self, *, limit: int = 500) -> Sequence[ActionItem]:
        """Items with a ticket, open ones first, the least recently checked first (what
        the ticket-state refresher reads)."""
        query = (select(ActionItem).where(ActionItem.ticket_url.is_not(None))
                 .order_by((ActionItem.state != OPEN), ActionItem.ticket_checked_at,
                           ActionItem.id)
                 .limit(limit))
        return (await self._session.execute(query)).scalars().all()
