"""Leadership on PostgreSQL: a lease the leader renews every second, with a fencing term.

An advisory lock alone cannot tell a dead leader from a stopped or stuck one: a process under
SIGSTOP, or whose event loop is blocked, keeps its socket and so its session and its lock, and
nobody ever takes over. A lease has to be renewed; a leader that does not renew loses it.

- The lease is a row (storage/leases.py): term, holder, expiry by the database's `now()` (the
  instances' clocks never enter into it). The leader renews it every `renew_every` seconds
  from a task of its own, on a connection of its own, so slow work elsewhere does not delay it.
- A standby polls; it takes the lease once it has expired, or at once when the holder's lease
  session no longer exists on the server (the process died and its socket closed: SIGKILL
  failover stays well under a second).
- The leader holds the lease, by its own monotonic clock, only until `lease - margin` after it
  *sent* its last successful renewal: the database cannot have let anyone else in before then.
  It steps down the moment a renewal is refused or that deadline passes, whichever is first.
- Every write the leader makes for its term is fenced by the term in the database
  (`FENCING_TERM`, checked by `Store.transaction`), and every effect is checked against the
  local deadline right before it leaves: a leader that resumes after losing the lease neither
  changes anything nor sends anything, and steps down by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime
from typing import Any

import asyncpg

from storage.leases import Grant, LeaseSession

log = logging.getLogger("statusdesk.leadership")

DEFAULT_LEASE_SECONDS = 5.0
RENEW_EVERY_SECONDS = 1.0
SAFETY_MARGIN_SECONDS = 1.0
"""The leader stops acting this long before the lease expires by its own reckoning: room
for a clock that runs a little fast and for the write already on its way."""
POLL_SECONDS = 0.25
"""How often a standby looks at the lease: SIGKILL failover takes about this long."""
STEP_BACK_SECONDS = 2.0
"""A leader that lost the lease waits this long before competing again: it is the suspect
one (stopped, stuck or cut off), so a standby goes first."""
CONNECT_TIMEOUT = 2.0

SERVER_KEEPALIVE = (
    # So that the server, too, notices a leader cut off by the network within seconds and
    # ends its lease session (a standby then need not wait for the expiry), rather than
    # after the kernel's default of two hours.
    "SET tcp_keepalives_idle = 2",
    "SET tcp_keepalives_interval = 1",
    "SET tcp_keepalives_count = 3",
    "SET tcp_user_timeout = 5000",
)

_DATABASE_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)


def application_name(instance: str) -> str:
    """The name an instance's PostgreSQL sessions carry (the server keeps 63 bytes)."""
    return instance.encode()[:63].decode(errors="ignore")


class LeaderLease:
    """The election (bot.ha.leadership.Leadership) by lease, for one instance."""

    def __init__(
        self,
        dsn: str,
        holder: str,
        *,
        lease: float = DEFAULT_LEASE_SECONDS,
        renew_every: float = RENEW_EVERY_SECONDS,
        margin: float = SAFETY_MARGIN_SECONDS,
        poll: float = POLL_SECONDS,
        step_back: float = STEP_BACK_SECONDS,
    ) -> None:
        if lease <= margin or renew_every >= lease - margin:
            raise ValueError("the lease must outlast a renewal interval plus the margin")
        self._dsn = dsn
        self.holder = holder
        self._lease = lease
        self._renew_every = renew_every
        self._margin = margin
        self._poll = poll
        self._step_back = step_back
        self._connection: Any = None
        self._leading = False
        self._deadline = 0.0
        """time.monotonic() after which this instance no longer acts as leader."""
        self._last_term: int | None = None
        self.term: int | None = None
        """The term this instance leads in; None while it stands by."""
        self.expires_at: datetime | None = None
        """The lease's expiry as the database last granted it (its clock)."""
        self._stepped_down = False
        self._read_only = False
        self._lost = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None

    @property
    def is_leader(self) -> bool:
        return self.holds()

    def holds(self) -> bool:
        """True while this instance may act as leader: checked before every chat send."""
        return self._leading and time.monotonic() < self._deadline

    def detail(self) -> dict[str, Any]:
        """For /healthz: the term and when the lease runs out (the database's clock)."""
        return {"term": self.term if self._leading else self._last_term,
                "expires_at": self.expires_at.isoformat() if self.expires_at else None,
                "seconds": self._lease}

    async def acquire(self) -> None:
        if self._stepped_down:
            self._stepped_down = False
            await asyncio.sleep(self._step_back)
        said = False
        while True:
            sent = time.monotonic()
            try:
                session = await self._session()
                grant = await asyncio.wait_for(
                    session.take(self.holder, self._lease, self._last_term), CONNECT_TIMEOUT)
            except _DATABASE_ERRORS as error:
                log.warning("leader election: database unreachable: %s", type(error).__name__)
                await self._drop_connection()
                grant = None
            if grant is not None:
                break
            if not said:
                log.info("another instance is the leader; standing by")
                said = True
            await asyncio.sleep(self._poll)
        self._granted(grant, sent)
        if grant.previous is not None and grant.previous != self.holder:
            await self._end_sessions_of(grant.previous)
        self._leading = True
        self.term = self._last_term = grant.term
        self._lost.clear()
        self._keeper = asyncio.create_task(self._keep(), name="leader lease")
        log.info("role: leader (term %d, lease %.0fs, expires %s)", grant.term, self._lease,
                 grant.expires_at.isoformat())

    async def lost(self) -> None:
        await self._lost.wait()

    async def release(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
            self._keeper = None
        if self._leading and self.term is not None and self._connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(LeaseSession(self._connection).release(
                    self.term, self.holder), CONNECT_TIMEOUT)
        self._step_down("released at shutdown")
        await self._drop_connection()

    def _granted(self, grant: Grant, sent: float) -> None:
        # From when the request was sent: the database's now() came after that.
        self._deadline = sent + self._lease - self._margin
        self.expires_at = grant.expires_at

    async def _keep(self) -> None:
        """Renew until a renewal is refused or the lease runs out by our own clock."""
        reason = "the lease ran out before it could be renewed"
        while self._leading:
            await asyncio.sleep(max(0.0, min(self._renew_every,
                                             self._deadline - time.monotonic())))
            if not self.holds():
                break
            assert self.term is not None
            sent = time.monotonic()
            try:
                # Connecting counts too: a connection that hangs must not outlive the lease.
                grant = await asyncio.wait_for(self._renew(self.term),
                                               max(0.05, self._deadline - sent))
            except asyncio.CancelledError:
                raise
            except _DATABASE_ERRORS as error:
                log.warning("could not renew the leader lease (term %d): %s; retrying until "
                            "it runs out", self.term, type(error).__name__)
                await self._drop_connection()
                continue
            if grant is None:
                reason = "another instance took the lease"
                break
            self._granted(grant, sent)
        self._step_down(reason)
        await self._drop_connection()

    async def _end_sessions_of(self, previous: str) -> None:
        """The deposed holder's sessions end now: whatever it had open rolls back and
        frees its locks (it could not have committed it anyway: its term is over)."""
        try:
            session = await self._session()
            ended = await asyncio.wait_for(session.end_sessions(application_name(previous)),
                                           CONNECT_TIMEOUT)
        except (*_DATABASE_ERRORS, asyncpg.InsufficientPrivilegeError) as error:
            log.warning("could not end the previous leader's database sessions: %s "
                        "(its open transactions keep their locks until the server drops "
                        "them)", type(error).__name__)
            return
        if ended:
            log.info("ended %d database session(s) of the previous leader %s", ended,
                     previous)

    async def _renew(self, term: int) -> Grant | None:
        session = await self._session()
        try:
            grant = await session.renew(term, self.holder, self._lease)
        except asyncpg.ReadOnlySQLTransactionError:
            # The database takes no writes (a hot standby, default_transaction_read_only):
            # no standby can take the lease either, so while the row is still ours we lead
            # on, answering questions and refusing commands, rather than leave chat silent.
            grant = await session.still_ours(term, self.holder)
            if grant is not None and not self._read_only:
                log.warning("the database takes no writes: the leader lease (term %d) "
                            "cannot be renewed, and nobody can take it; leading on", term)
            self._read_only = grant is not None
            return grant
        self._read_only = False
        return grant

    def _step_down(self, reason: str) -> None:
        if self._leading:
            self._leading = False
            self._stepped_down = True
            log.warning("role: standby (was leader in term %s: %s)", self.term, reason)
            self.term = None
        self._lost.set()

    async def _session(self) -> LeaseSession:
        if self._connection is None or self._connection.is_closed():
            self._connection = await asyncio.wait_for(
                asyncpg.connect(self._dsn, timeout=CONNECT_TIMEOUT, server_settings={
                    "application_name": application_name(self.holder)}),
                CONNECT_TIMEOUT * 2)
            for statement in SERVER_KEEPALIVE:
                with contextlib.suppress(asyncpg.PostgresError):
                    await self._connection.execute(statement)
        return LeaseSession(self._connection)

    async def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            # terminate(), not close(): close() waits on a server that may be gone.
            connection.terminate()
