"""Chat events already applied: the inbound half of exactly-once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import InboundEvent


class InboundEventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def claim(self, scope: str, event_id: str, at: datetime) -> bool:
        """Record the event as applied; False when it was already (the caller then does
        nothing). Part of the caller's transaction: a rollback forgets the claim too."""
        dialect = self._session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        result = await self._session.execute(
            insert(InboundEvent).values(scope=scope, event_id=event_id, at=at)
            .on_conflict_do_nothing(index_elements=["scope", "event_id"])
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def forget_before(self, before: datetime) -> int:
        """Drop claims older than `before`: no network replays events that old."""
        result = await self._session.execute(
            delete(InboundEvent).where(InboundEvent.at < before)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
