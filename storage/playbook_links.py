"""Bugs linked to playbook entries from chat."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import PlaybookLink


class PlaybookLinkRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, slug: str, url: str, added_by: str, at: datetime) -> PlaybookLink | None:
        """Link `url` to the entry; None when it already is (nothing changes)."""
        existing = await self._session.execute(
            select(PlaybookLink.id).where(PlaybookLink.slug == slug, PlaybookLink.url == url)
        )
        if existing.first() is not None:
            return None
        link = PlaybookLink(slug=slug, url=url, added_by=added_by, added_at=at)
        self._session.add(link)
        await self._session.flush()
        return link

    async def of(self, slug: str) -> Sequence[PlaybookLink]:
        query = select(PlaybookLink).where(PlaybookLink.slug == slug).order_by(PlaybookLink.id)
        return (await self._session.execute(query)).scalars().all()

    async def all(self) -> dict[str, list[PlaybookLink]]:
        """Every link, by entry slug, oldest first."""
        rows = (await self._session.execute(
            select(PlaybookLink).order_by(PlaybookLink.id)
        )).scalars().all()
        found: dict[str, list[PlaybookLink]] = {}
        for row in rows:
            found.setdefault(row.slug, []).append(row)
        return found
