"""Key/value state that transports keep across restarts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import TransportState


class TransportStateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, scope: str, key: str) -> str | None:
        row = await self._session.get(TransportState, (scope, key))
        return None if row is None else row.value

    async def put(self, scope: str, key: str, value: str, at: datetime) -> None:
        row = await self._session.get(TransportState, (scope, key))
        if row is None:
            self._session.add(TransportState(scope=scope, key=key, value=value, updated_at=at))
        else:
            row.value = value
            row.updated_at = at
        await self._session.flush()

    async def delete(self, scope: str, key: str) -> None:
        row = await self._session.get(TransportState, (scope, key))
        if row is not None:
            await self._session.delete(row)
            await self._session.flush()

    async def in_scope(self, scope: str) -> dict[str, str]:
        rows = await self._session.execute(
            select(TransportState).where(TransportState.scope == scope))
        return {row.key: row.value for row in rows.scalars()}
