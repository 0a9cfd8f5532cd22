"""The leader lease (table `leader_lease`, PostgreSQL) and the fence every leader write passes.

The lease is one row: term, holder, expiry. Its SQL runs on a connection of the holder's own
(`LeaseSession` below takes an asyncpg connection), so the row can name the server process of
that session: a standby that sees it gone knows the holder died or was cut off and takes over
at once instead of waiting for the expiry. Every time is the database's `now()`.

Fencing: work done for a term (the outbox worker, the transports' commands, reminders...)
runs with `FENCING_TERM` set in its asyncio context; `Store.transaction()` then checks, just
before it commits, that this term still holds an unexpired lease, and rolls back otherwise.
A leader that was stopped, stuck or cut off and comes back can therefore change nothing,
and since every announcement is claimed and marked as being sent in such a transaction
before it is written to a network, it sends nothing either.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

FENCING_TERM: ContextVar[int | None] = ContextVar("statusdesk_fencing_term", default=None)
"""The term the current task works for; None for work that is not the leader's (the status
page, a standby) and on SQLite."""


class LeaseLost(Exception):
    """A transaction of a term that no longer holds the lease: rolled back, nothing written."""

    def __init__(self, term: int) -> None:
        super().__init__(f"term {term} no longer holds the leader lease")
        self.term = term


@dataclass(frozen=True)
class Grant:
    """The lease as granted (taken or renewed) by the database."""

    term: int
    expires_at: datetime
    previous: str | None = None
    """Who held it before, when it was taken."""


_TAKE = """
WITH previous AS (SELECT holder FROM leader_lease WHERE id = 1)
UPDATE leader_lease
   SET term = CASE WHEN holder = $1 AND term = $3 THEN term ELSE term + 1 END,
       holder = $1, holder_pid = pg_backend_pid(),
       expires_at = now() + make_interval(secs => $2), renewed_at = now()
 WHERE id = 1
   AND (expires_at <= now()
        OR holder_pid IS NULL
        OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = leader_lease.holder_pid))
RETURNING term, expires_at, (SELECT holder FROM previous) AS previous
"""
# The same holder taking the lease back with nobody in between keeps its term: work it
# started in that term is still its own (a database restart made it step down a moment).

_RENEW = """
UPDATE leader_lease
   SET expires_at = now() + make_interval(secs => $3), renewed_at = now(),
       holder_pid = pg_backend_pid()
 WHERE id = 1 AND term = $1 AND holder = $2
RETURNING term, expires_at
"""
# No `expires_at > now()`: the term is the fencing token. While nobody has taken the lease,
# an expired one is still ours to renew (the holder's own clock has kept it quiet meanwhile).

_STILL_OURS = "SELECT expires_at FROM leader_lease WHERE id = 1 AND term = $1 AND holder = $2"

_RELEASE = """
UPDATE leader_lease SET expires_at = now(), holder_pid = NULL
 WHERE id = 1 AND term = $1 AND holder = $2
"""

_END_SESSIONS = """
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
 WHERE application_name = $1 AND pid <> pg_backend_pid()
"""

_READ = "SELECT term, holder, expires_at FROM leader_lease WHERE id = 1"

_FENCE = text(
    # clock_timestamp(), not now(): now() is when the transaction began, and the question is
    # whether the lease holds as it commits.
    "SELECT 1 FROM leader_lease WHERE id = 1 AND term = :term "
    "AND (expires_at > clock_timestamp() "
    # A read-only transaction writes nothing, so there is nothing to fence: questions are
    # still answered while the database takes no writes (and so nobody can take the lease).
    "     OR current_setting('transaction_read_only') = 'on')"
)


class LeaseSession:
    """The lease's statements on one asyncpg connection (the holder's lease session)."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    async def take(self, holder: str, seconds: float, last_term: int | None) -> Grant | None:
        """The lease for `holder` when it is free (expired, released, or its holder's session
        gone); None while someone else holds it."""
        row = await self._connection.fetchrow(_TAKE, holder, float(seconds),
                                              last_term if last_term is not None else -1)
        if row is None:
            return None
        return Grant(int(row["term"]), row["expires_at"], row["previous"])

    async def end_sessions(self, application_name: str) -> int:
        """Terminate every session named `application_name` (a deposed holder's): a
        transaction it left open when it was stopped or cut off would hold its row locks,
        and the new leader's writes would wait on them, until the server noticed. Returns
        how many were ended."""
        return int(await self._connection.fetchval(_END_SESSIONS, application_name))

    async def renew(self, term: int, holder: str, seconds: float) -> Grant | None:
        """Push the expiry on; None when the lease is no longer ours (taken, or expired)."""
        row = await self._connection.fetchrow(_RENEW, term, holder, float(seconds))
        return Grant(int(row["term"]), row["expires_at"]) if row is not None else None

    async def still_ours(self, term: int, holder: str) -> Grant | None:
        """The lease as it stands, when it is still `term`'s and `holder`'s (a read: for a
        database that takes no writes, where nobody can take it from us either)."""
        row = await self._connection.fetchrow(_STILL_OURS, term, holder)
        return Grant(term, row["expires_at"]) if row is not None else None

    async def release(self, term: int, holder: str) -> None:
        """Expire it now, so a standby takes over at its next poll."""
        await self._connection.execute(_RELEASE, term, holder)

    async def read(self) -> tuple[int, str | None, datetime]:
        row = await self._connection.fetchrow(_READ)
        return int(row["term"]), row["holder"], row["expires_at"]


async def check_fence(session: AsyncSession, term: int) -> None:
    """Raise LeaseLost unless `term` holds an unexpired lease now (inside the caller's
    transaction, so a failure rolls everything in it back)."""
    held = (await session.execute(_FENCE, {"term": term})).scalar_one_or_none()
    if held is None:
        raise LeaseLost(term)
