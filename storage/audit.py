"""The audit log: every privileged command, accepted or refused."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.kept_text import kept
from storage.models import AuditRecord
from storage.timeline import Where

MAX_AUDIT_TEXT = 2000

# PostgreSQL text cannot hold NUL, and no database driver encodes a lone surrogate (Matrix
# delivers both from JSON escapes): the raw text keeps its shape with U+FFFD in their place.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def record(
        self,
        where: Where,
        at: datetime,
        *,
        command: str,
        text: str,
        outcome: str,
        reason: str | None = None,
    ) -> None:
        # One INSERT, no ORM object: no caller reads the record back, and building and
        # flushing one was a good part of a command's time.
        await self._session.execute(_RECORD, {
            "at": at,
            "actor": where.actor,
            "identity": where.identity,
            "transport": where.transport or "unknown",
            "network": where.network,
            "channel": where.channel,
            "command": command,
            # Raw chat text is untrusted and unbounded; the audit keeps what identifies it.
            "text": _UNSTORABLE.sub("\ufffd", kept(text, MAX_AUDIT_TEXT)),
            "outcome": outcome,
            "reason": reason,
        })

    async def prune(self, before: datetime, limit: int) -> int:
        """Delete up to `limit` records made before `before` (retention); how many. Found
        by the index on `at`, then deleted by primary key."""
        oldest = select(AuditRecord.id).where(AuditRecord.at < before).limit(limit)
        ids = list((await self._session.execute(oldest)).scalars())
        if not ids:
            return 0
        result = await self._session.execute(
            delete(AuditRecord).where(AuditRecord.id.in_(ids))
            .execution_options(synchronize_session=False))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def recent(self, limit: int, outcome: str | None = None) -> Sequence[AuditRecord]:
        query = select(AuditRecord).order_by(AuditRecord.id.desc()).limit(limit)
        if outcome is not None:
            query = query.where(AuditRecord.outcome == outcome)
        return (await self._session.execute(query)).scalars().all()


_RECORD = insert(cast(Table, AuditRecord.__table__))
