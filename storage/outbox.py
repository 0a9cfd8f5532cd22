"""The durable outbox: effects written with the state change, delivered after commit."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import OutboxEffect

MAX_ERROR_TEXT = 2000


def _pending() -> Any:
    return OutboxEffect.delivered_at.is_(None) & OutboxEffect.failed_at.is_(None)


def _row(kind: str, lane: str, payload: dict[str, Any], key: str, at: datetime
         ) -> dict[str, Any]:
    return {"kind": kind, "lane": lane, "payload": payload, "idempotency_key": key,
            "created_at": at, "attempts": 0, "next_attempt_at": at}


# Built once, on the table rather than the ORM class: an effect is queued with every
# command that broadcasts, and the ORM's bulk-insert path (with its autoflush) cost more
# than the INSERT itself.
_INSERTS = {
    postgresql: insert(cast(Table, OutboxEffect.__table__)).on_conflict_do_nothing(
        index_elements=["idempotency_key"])
    for postgresql, insert in ((True, pg_insert), (False, sqlite_insert))
}


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self, kind: str, lane: str, payload: dict[str, Any], key: str, at: datetime
    ) -> bool:
        """Queue an effect; False when one with this idempotency key exists already."""
        result = await self._session.execute(self._insert(),
                                             _row(kind, lane, payload, key, at))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def add_many(
        self, effects: Sequence[tuple[str, str, dict[str, Any], str]], at: datetime
    ) -> None:
        """Queue several (kind, lane, payload, key) effects in one round trip; keys that exist
        already are skipped."""
        if effects:
            rows = [_row(kind, lane, payload, key, at) for kind, lane, payload, key in effects]
            await self._session.execute(self._insert(), rows)

    def _insert(self) -> Any:
        return _INSERTS[self._session.get_bind().dialect.name == "postgresql"]

    async def due(self, now: datetime, limit: int = 100) -> Sequence[OutboxEffect]:
        """The oldest pending effect of each lane, where its time to (re)try has come."""
        heads = (
            select(func.min(OutboxEffect.id))
            .where(_pending())
            .group_by(OutboxEffect.lane)
            .scalar_subquery()
        )
        query = (
            select(OutboxEffect)
            .where(OutboxEffect.id.in_(heads), OutboxEffect.next_attempt_at <= now)
            .order_by(OutboxEffect.id)
            .limit(limit)
        )
        return (await self._session.execute(query)).scalars().all()

    async def claim_due(
        self, now: datetime, owner: str, lease: timedelta, limit: int = 100,
        busy_lanes: Collection[str] = (),
    ) -> Sequence[OutboxEffect]:
        """Like `due`, but claimed for `owner` until `now + lease`: effects another live
        worker has claimed are skipped (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so two
        instances claiming at once never get the same row), and so are `busy_lanes`, whose
        head the caller is delivering still."""
        heads = (
            select(func.min(OutboxEffect.id))
            .where(_pending())
            .group_by(OutboxEffect.lane)
            .scalar_subquery()
        )
        query = (
            select(OutboxEffect)
            .where(
                OutboxEffect.id.in_(heads),
                OutboxEffect.next_attempt_at <= now,
                or_(OutboxEffect.claimed_until.is_(None), OutboxEffect.claimed_until <= now,
                    OutboxEffect.claimed_by == owner),
            )
            .order_by(OutboxEffect.id)
            .limit(limit)
        )
        if busy_lanes:
            query = query.where(OutboxEffect.lane.not_in(list(busy_lanes)))
        if self._session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        effects = (await self._session.execute(query)).scalars().all()
        if effects:
            until = now + lease
            await self._session.execute(
                update(OutboxEffect)
                .where(OutboxEffect.id.in_([e.id for e in effects]))
                .values(claimed_by=owner, claimed_until=until)
                .execution_options(synchronize_session=False)
            )
            for effect in effects:
                effect.claimed_by, effect.claimed_until = owner, until
        return effects

    async def release_claims(self, *, except_owner: str, now: datetime) -> tuple[int, int]:
        """Take over from instances that died: free their claims, so the effects go out now,
        except those they had started sending and may have sent: repeating a notice that
        did go out is worse than the rare one lost, so those are given up on (and kept, with
        the reason). Returns (freed, given up)."""
        others = (_pending(), OutboxEffect.claimed_by.is_not(None),
                  OutboxEffect.claimed_by != except_owner)
        interrupted = await self._session.execute(
            update(OutboxEffect)
            .where(*others, OutboxEffect.sending_since.is_not(None))
            .values(claimed_by=None, claimed_until=None, failed_at=now,
                    last_error="interrupted: the instance sending it died before it could "
                               "record the outcome; not repeated, as it may have gone out")
            .execution_options(synchronize_session=False)
        )
        freed = await self._session.execute(
            update(OutboxEffect)
            .where(*others)
            .values(claimed_by=None, claimed_until=None)
            .execution_options(synchronize_session=False)
        )
        return (int(freed.rowcount),  # type: ignore[attr-defined]
                int(interrupted.rowcount))  # type: ignore[attr-defined]

    async def mark_sending(self, effect_id: int, at: datetime, *, owner: str | None = None
                           ) -> bool:
        """With `owner`, only while that owner still holds the claim: False means another
        instance took the effect over (its row lock also orders this after a takeover)."""
        query = update(OutboxEffect).where(OutboxEffect.id == effect_id)
        if owner is not None:
            query = query.where(OutboxEffect.claimed_by == owner)
        result = await self._session.execute(
            query.values(sending_since=at).execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def next_attempt_at(self, busy_lanes: Collection[str] = ()) -> datetime | None:
        """When the earliest pending effect may be tried (None: nothing pending), leaving
        out `busy_lanes` (being delivered: their end, not a time, says when to look again)."""
        query = select(func.min(OutboxEffect.next_attempt_at)).where(_pending())
        if busy_lanes:
            query = query.where(OutboxEffect.lane.not_in(list(busy_lanes)))
        # min() takes its argument's type, so this comes back as an aware UTC datetime.
        return (await self._session.execute(query)).scalar_one_or_none()

    async def pending(self) -> Sequence[OutboxEffect]:
        query = select(OutboxEffect).where(_pending()).order_by(OutboxEffect.id)
        return (await self._session.execute(query)).scalars().all()

    async def lane_busy(self, lane: str) -> bool:
        """Whether an effect is still pending in `lane` (queued, waiting to retry, or being
        delivered)."""
        query = select(OutboxEffect.id).where(_pending(), OutboxEffect.lane == lane).limit(1)
        return (await self._session.execute(query)).first() is not None

    async def pending_count(self) -> int:
        query = select(func.count()).select_from(OutboxEffect).where(_pending())
        return int((await self._session.execute(query)).scalar_one())

    async def prune_delivered(self, before: datetime, limit: int) -> int:
        """Delete up to `limit` effects delivered before `before` (retention); how many.
        Found by ix_outbox_pending, whose first column is `delivered_at`, then deleted by
        primary key (a subquery let PostgreSQL's planner read the whole key index)."""
        oldest = select(OutboxEffect.id).where(OutboxEffect.delivered_at < before).limit(limit)
        ids = list((await self._session.execute(oldest)).scalars())
        if not ids:
            return 0
        result = await self._session.execute(
            delete(OutboxEffect).where(OutboxEffect.id.in_(ids))
            .execution_options(synchronize_session=False))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def counts(self) -> tuple[int, int]:
        """(pending, failed) in one statement, each counted from its index."""
        pending = select(func.count()).select_from(OutboxEffect).where(_pending())
        failed = (select(func.count()).select_from(OutboxEffect)
                  .where(OutboxEffect.failed_at.is_not(None)))
        row = (await self._session.execute(
            select(pending.scalar_subquery(), failed.scalar_subquery()))).one()
        return int(row[0]), int(row[1])

    async def failed_count(self) -> int:
        # `IS NOT NULL` as written in ix_outbox_failed's predicate, so that index answers.
        query = (
            select(func.count())
            .select_from(OutboxEffect)
            .where(OutboxEffect.failed_at.is_not(None))
        )
        return int((await self._session.execute(query)).scalar_one())

    async def mark_delivered(self, effect_id: int, at: datetime, *, owner: str | None = None
                             ) -> bool:
        return await self._settle(effect_id, owner, delivered_at=at,
                                  attempts=OutboxEffect.attempts + 1, last_error=None)

    async def retry_now(self, lane_prefix: str, now: datetime) -> int:
        """Make every pending effect in lanes starting with `lane_prefix` due at `now`."""
        result = await self._session.execute(
            update(OutboxEffect)
            .where(_pending(), OutboxEffect.lane.startswith(lane_prefix, autoescape=True),
                   OutboxEffect.next_attempt_at > now)
            .values(next_attempt_at=now)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def mark_retry(self, effect_id: int, error: str, next_at: datetime, *,
                         owner: str | None = None) -> bool:
        return await self._settle(effect_id, owner, attempts=OutboxEffect.attempts + 1,
                                  next_attempt_at=next_at, last_error=error[:MAX_ERROR_TEXT])

    async def mark_failed(self, effect_id: int, error: str, at: datetime, *,
                          owner: str | None = None) -> bool:
        return await self._settle(effect_id, owner, attempts=OutboxEffect.attempts + 1,
                                  failed_at=at, last_error=error[:MAX_ERROR_TEXT])

    async def _settle(self, effect_id: int, owner: str | None, **values: Any) -> bool:
        """Record an attempt's outcome and drop the claim. With `owner`, only while that
        owner still holds the claim: False means another instance took the effect over."""
        query = update(OutboxEffect).where(OutboxEffect.id == effect_id)
        if owner is not None:
            query = query.where(or_(OutboxEffect.claimed_by.is_(None),
                                    OutboxEffect.claimed_by == owner))
        result = await self._session.execute(
            query.values(claimed_by=None, claimed_until=None, sending_since=None, **values)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]
