"""Channel topics saved while an alert replaces them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import SavedTopic


class SavedTopicRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, transport: str, network: str, channel: str) -> SavedTopic | None:
        return await self._session.get(SavedTopic, (transport, network, channel))

    async def save_if_absent(
        self, transport: str, network: str, channel: str, topic: str | None, at: datetime
    ) -> bool:
        """Keep the first topic seen: a second alert must not save the first alert's topic."""
        if await self.get(transport, network, channel) is not None:
            return False
        self._session.add(
            SavedTopic(transport=transport, network=network, channel=channel, topic=topic,
                       saved_at=at)
        )
        await self._session.flush()
        return True

    async def replace(
        self, transport: str, network: str, channel: str, topic: str | None, at: datetime
    ) -> bool:
        """Someone set a new topic while ours replaced the saved one: restore theirs later.
        False when nothing is saved (no alert is up in that channel)."""
        saved = await self.get(transport, network, channel)
        if saved is None:
            return False
        saved.topic = topic
        saved.saved_at = at
        await self._session.flush()
        return True

    async def pop(self, transport: str, network: str, channel: str) -> SavedTopic | None:
        saved = await self.get(transport, network, channel)
        if saved is not None:
            await self._session.delete(saved)
            await self._session.flush()
        return saved

    async def all(self) -> Sequence[SavedTopic]:
        return (await self._session.execute(select(SavedTopic))).scalars().all()
