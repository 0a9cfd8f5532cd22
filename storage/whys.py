"""An incident's Five Whys: numbered entries, appended or replaced (`#why`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import WhyEntry


class WhyRepository:
    """Written under the incident's row lock (`incidents.get(for_update=True)` first), so
    two `#why` at once never take the same number."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def of(self, incident_id: int) -> Sequence[WhyEntry]:
        query = (select(WhyEntry).where(WhyEntry.incident_id == incident_id)
                 .order_by(WhyEntry.number))
        return (await self._session.execute(query)).scalars().all()

    async def append(self, incident_id: int, text: str, author: str, at: datetime) -> WhyEntry:
        last = (await self._session.execute(
            select(func.max(WhyEntry.number)).where(WhyEntry.incident_id == incident_id)
        )).scalar_one_or_none()
        entry = WhyEntry(incident_id=incident_id, number=(last or 0) + 1, text=text,
                         author=author, at=at)
        self._session.add(entry)
        await self._session.flush()
        return entry

    async def get(self, incident_id: int, number: int) -> WhyEntry | None:
        return await self._session.get(WhyEntry, (incident_id, number))
