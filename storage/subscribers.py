"""Subscribers and the notices queued for them, one row per (notice, subscriber)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Subscriber, SubscriberNotice


class SubscriberRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def by_address(self, address: str, *, for_update: bool = False
                         ) -> Subscriber | None:
        query = select(Subscriber).where(Subscriber.address == address)
        if for_update:
            query = query.with_for_update()
        return (await self._session.execute(query)).scalar_one_or_none()

    async def get(self, subscriber_id: int) -> Subscriber | None:
        return await self._session.get(Subscriber, subscriber_id)

    async def add(self, address: str, components: list[str], *, at: datetime,
                  created_from: str | None, unsubscribe_hash: str, nonce: str) -> Subscriber:
        row = Subscriber(address=address, components=components, created_at=at,
                         created_from=created_from, unsubscribe_hash=unsubscribe_hash,
                         nonce=nonce)
        self._session.add(row)
        await self._session.flush()
        return row

    async def by_confirm_hash(self, digest: str) -> Subscriber | None:
        query = select(Subscriber).where(Subscriber.confirm_hash == digest).with_for_update()
        return (await self._session.execute(query)).scalar_one_or_none()

    async def by_unsubscribe_hash(self, digest: str) -> Subscriber | None:
        query = select(Subscriber).where(Subscriber.unsubscribe_hash == digest)
        return (await self._session.execute(query)).scalar_one_or_none()

    async def remove(self, subscriber: Subscriber) -> None:
        await self._session.delete(subscriber)
        await self._session.flush()

    async def forget_unconfirmed(self, created_before: datetime) -> int:
        """Unconfirmed addresses asked for before `created_before` are forgotten."""
        result = await self._session.execute(
            delete(Subscriber).where(Subscriber.confirmed_at.is_(None),
                                     Subscriber.created_at < created_before))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def confirmed(self) -> Sequence[tuple[int, list[str]]]:
        """(id, chosen components) of every confirmed subscriber, oldest first. The filter
        on components is the caller's: JSON lists compare differently on each database."""
        query = (select(Subscriber.id, Subscriber.components)
                 .where(Subscriber.confirmed_at.is_not(None)).order_by(Subscriber.id))
        return [(row[0], list(row[1] or [])) for row in await self._session.execute(query)]

    async def count(self, *, confirmed: bool) -> int:
        query = select(Subscriber.id).where(
            Subscriber.confirmed_at.is_not(None) if confirmed
            else Subscriber.confirmed_at.is_(None))
        return len((await self._session.execute(query)).all())

    # --- notices ---------------------------------------------------------------------------

    async def queue(self, notice_key: str, batches: Sequence[tuple[int, int]], at: datetime
                    ) -> None:
        """One row per (subscriber id, batch) for this notice; rows that exist already are
        kept as they are, so queueing twice (a retried fan-out) changes nothing."""
        if not batches:
            return
        dialect = self._session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = insert(SubscriberNotice).on_conflict_do_nothing(
            index_elements=["notice_key", "subscriber_id"])
        rows = [{"notice_key": notice_key, "subscriber_id": sid, "batch": batch,
                 "created_at": at} for sid, batch in batches]
        await self._session.execute(statement, rows)

    async def unsent(self, notice_key: str, batch: int
                     ) -> Sequence[tuple[SubscriberNotice, Subscriber]]:
        """The batch's notices not sent yet, with their (still subscribed) subscribers."""
        query = (select(SubscriberNotice, Subscriber)
                 .join(Subscriber, Subscriber.id == SubscriberNotice.subscriber_id)
                 .where(SubscriberNotice.notice_key == notice_key,
                        SubscriberNotice.batch == batch,
                        SubscriberNotice.sent_at.is_(None),
                        Subscriber.confirmed_at.is_not(None))
                 .order_by(SubscriberNotice.id))
        return [(row[0], row[1]) for row in await self._session.execute(query)]

    async def mark_sending(self, notice_id: int, at: datetime) -> None:
        await self._session.execute(update(SubscriberNotice)
                                    .where(SubscriberNotice.id == notice_id)
                                    .values(sending_since=at))

    async def mark_sent(self, notice_id: int, at: datetime) -> None:
        await self._session.execute(update(SubscriberNotice)
                                    .where(SubscriberNotice.id == notice_id)
                                    .values(sent_at=at))

    async def forget_notices(self, created_before: datetime) -> int:
        """Notice rows older than anything the outbox could still retry."""
        result = await self._session.execute(
            delete(SubscriberNotice).where(SubscriberNotice.created_at < created_before))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def sent_count(self, notice_key: str) -> int:
        query = select(SubscriberNotice.id).where(SubscriberNotice.notice_key == notice_key,
                                                  SubscriberNotice.sent_at.is_not(None))
        return len((await self._session.execute(query)).all())
