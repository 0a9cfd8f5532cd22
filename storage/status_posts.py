"""`#status` posts and the alert currently in force."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import CurrentAlert, StatusPost

ALERT_ROW = 1


class StatusPostRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self, kind: str, text: str | None, author: str, at: datetime, incident_id: int | None
    ) -> int:
        """The new post's id. One INSERT, no ORM object: its writer (`#status`) needs only
        the id, and building and flushing the object was a good part of the command's time."""
        result = await self._session.execute(_ADD, {
            "kind": kind, "text": text, "author": author, "at": at, "incident_id": incident_id})
        return int(result.inserted_primary_key[0])  # type: ignore[attr-defined]

    async def recent(self, limit: int, kinds: Sequence[str] | None = None) -> Sequence[StatusPost]:
        query = select(StatusPost).order_by(StatusPost.id.desc()).limit(limit)
        if kinds is not None:
            query = query.where(StatusPost.kind.in_(kinds))
        return (await self._session.execute(query)).scalars().all()

    async def recent_fields(
        self, limit: int
    ) -> Sequence[tuple[int, str, str | None, str, datetime, int | None]]:
        """`recent` as plain rows of (id, kind, text, author, at, incident_id), for a reader
        that changes nothing (the status page after every `#status` post): no ORM object
        for each of the 50, which was most of the read's time."""
        return (await self._session.execute(_RECENT.limit(limit))).all()


_RECENT = select(StatusPost.id, StatusPost.kind, StatusPost.text, StatusPost.author,
                 StatusPost.at, StatusPost.incident_id).order_by(StatusPost.id.desc())


@dataclass(frozen=True, slots=True)
class AlertInForce:
    """The alert in force, the fields an answer shows."""

    text: str
    set_by: str
    set_at: datetime
    incident_id: int | None


_IN_FORCE = (select(CurrentAlert.text, CurrentAlert.set_by, CurrentAlert.set_at,
                    CurrentAlert.incident_id).where(CurrentAlert.id == ALERT_ROW))


class AlertRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def current(self) -> CurrentAlert | None:
        return await self._session.get(CurrentAlert, ALERT_ROW)

    async def in_force(self) -> AlertInForce | None:
        """`current` as a plain row, for a reader that changes nothing (`#now`): no ORM
        object, a statement built once."""
        row = (await self._session.execute(_IN_FORCE)).first()
        return AlertInForce(*row) if row is not None else None

    async def set(
        self, text: str, set_by: str, at: datetime, incident_id: int | None, post_id: int
    ) -> CurrentAlert:
        alert = await self.current()
        if alert is None:
            alert = CurrentAlert(id=ALERT_ROW)
            self._session.add(alert)
        alert.text = text
        alert.set_by = set_by
        alert.set_at = at
        alert.incident_id = incident_id
        alert.status_post_id = post_id
        await self._session.flush()
        return alert

    async def clear(self) -> None:
        await self._session.execute(delete(CurrentAlert).where(CurrentAlert.id == ALERT_ROW))


_ADD = insert(cast(Table, StatusPost.__table__))
