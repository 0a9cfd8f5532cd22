"""`#success` and `#thanks` entries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Kudos


class KudosRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, kind: str, text: str, author: str, at: datetime) -> Kudos:
        entry = Kudos(kind=kind, text=text, author=author, at=at)
        self._session.add(entry)
        await self._session.flush()
        return entry

    async def recent(self, kind: str, limit: int, offset: int = 0) -> Sequence[Kudos]:
        query = (
            select(Kudos)
            .where(Kudos.kind == kind)
            .order_by(Kudos.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return (await self._session.execute(query)).scalars().all()
