"""Which instance speaks in chat: one leader per database, the others stand by.

With PostgreSQL the leader is whoever holds a session advisory lock. PostgreSQL releases it
when the session ends, so a crashed leader (or one cut off from the database) loses it
without any home-made consensus, and a standby polling for it takes over. The leader pings
the database on the lock's own connection and steps down the moment that fails, before a
standby can have taken over: two bots never speak at once.

With SQLite (one host) an exclusive `flock` on a file beside the database plays the same
part, so a second process started by mistake waits instead of doubling every announcement.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import socket
import uuid
from pathlib import Path
from typing import IO, Any, Protocol

import asyncpg
from sqlalchemy.engine import make_url

log = logging.getLogger("statusdesk.leadership")

LOCK_KEY = 0x5D5D_0001_57A7_DE5C
"""The advisory lock's key: one statusdesk deployment per database."""

POLL_SECONDS = 0.5
"""How often a standby tries the lock: failover takes about this long after the session ends."""

STEP_BACK_SECONDS = 2.0
"""A leader that lost the lock waits this long before competing for it again: the instance
that just lost its database connection is the suspect one, so a standby goes first."""

PING_SECONDS = 1.0
PING_TIMEOUT = 2.0
"""A leader whose lock connection does not answer within this steps down."""

SERVER_KEEPALIVE = (
    # So that the server, too, notices a leader cut off by the network within seconds and
    # frees the lock, rather than after the kernel's default of two hours.
    "SET tcp_keepalives_idle = 2",
    "SET tcp_keepalives_interval = 1",
    "SET tcp_keepalives_count = 3",
    "SET tcp_user_timeout = 5000",
)


def instance_id() -> str:
    """A name for this process, unique across hosts and restarts (`host:pid:random`)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Leadership(Protocol):
    """The election as the app sees it."""

    @property
    def is_leader(self) -> bool: ...

    async def acquire(self) -> None:
        """Wait until this instance is the leader."""
        ...

    async def lost(self) -> None:
        """Return once leadership is lost (a sole instance never loses it)."""
        ...

    async def release(self) -> None:
        """Give leadership up (at shutdown) so a standby takes over at once."""
        ...


class SoleInstance:
    """No election: an in-memory database, or a store no other process can share."""

    def __init__(self) -> None:
        self._leading = False
        self._released = asyncio.Event()

    @property
    def is_leader(self) -> bool:
        return self._leading

    async def acquire(self) -> None:
        self._leading = True

    async def lost(self) -> None:
        await self._released.wait()

    async def release(self) -> None:
        self._leading = False
        self._released.set()


class FileLock:
    """Leadership for a SQLite file: an exclusive `flock` on `<database>.leader`."""

    def __init__(self, path: Path, *, poll: float = POLL_SECONDS) -> None:
        self._path = path
        self._poll = poll
        self._file: IO[bytes] | None = None
        self._released = asyncio.Event()

    @property
    def is_leader(self) -> bool:
        return self._file is not None

    async def acquire(self) -> None:
        said = False
        while True:
            handle = _try_flock(self._path)
            if handle is None:
                if not said:
                    log.warning("another statusdesk process uses this database (%s is "
                                "locked); standing by", self._path)
                    said = True
                await asyncio.sleep(self._poll)
                continue
            self._file = handle
            self._released.clear()
            return

    async def lost(self) -> None:
        await self._released.wait()

    async def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the descriptor drops the flock
            self._file = None
        self._released.set()


class AdvisoryLock:
    """Leadership through `pg_try_advisory_lock` on a connection of its own."""

    def __init__(
        self,
        dsn: str,
        *,
        key: int = LOCK_KEY,
        poll: float = POLL_SECONDS,
        ping_every: float = PING_SECONDS,
        ping_timeout: float = PING_TIMEOUT,
        step_back: float = STEP_BACK_SECONDS,
    ) -> None:
        self._dsn = dsn
        self._step_back = step_back
        self._stepped_down = False
        self._key = key
        self._poll = poll
        self._ping_every = ping_every
        self._ping_timeout = ping_timeout
        self._connection: Any = None
        self._leading = False
        self._lost = asyncio.Event()
        self._watch: asyncio.Task[None] | None = None

    @property
    def is_leader(self) -> bool:
        return self._leading

    async def acquire(self) -> None:
        if self._stepped_down:
            self._stepped_down = False
            await asyncio.sleep(self._step_back)
        said = False
        while True:
            try:
                if await self._try_lock():
                    break
                if not said:
                    log.info("another instance is the leader; standing by")
                    said = True
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError,
                    TimeoutError) as error:
                log.warning("leader election: database unreachable: %s",
                            type(error).__name__)
                await self._drop_connection()
            await asyncio.sleep(self._poll)
        self._leading = True
        self._lost.clear()
        self._watch = asyncio.create_task(self._watch_connection(), name="leadership")
        log.info("this instance is now the leader")

    async def lost(self) -> None:
        await self._lost.wait()

    async def release(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        if self._leading and self._connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    self._connection.execute("SELECT pg_advisory_unlock($1)", self._key),
                    self._ping_timeout,
                )
        self._step_down()
        await self._drop_connection()

    async def _try_lock(self) -> bool:
        if self._connection is None or self._connection.is_closed():
            self._connection = await asyncio.wait_for(
                asyncpg.connect(self._dsn, timeout=self._ping_timeout), self._ping_timeout * 2
            )
            for statement in SERVER_KEEPALIVE:
                with contextlib.suppress(asyncpg.PostgresError):
                    await self._connection.execute(statement)
            self._connection.add_termination_listener(lambda _c: self._step_down())
        got = await asyncio.wait_for(
            self._connection.fetchval("SELECT pg_try_advisory_lock($1)", self._key),
            self._ping_timeout,
        )
        return bool(got)

    async def _watch_connection(self) -> None:
        while self._leading:
            await asyncio.sleep(self._ping_every)
            try:
                await asyncio.wait_for(self._connection.fetchval("SELECT 1"),
                                       self._ping_timeout)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.error("lost the database connection that holds leadership (%s); "
                          "stepping down", type(error).__name__)
                break
        self._step_down()
        await self._drop_connection()

    def _step_down(self) -> None:
        if self._leading:
            self._leading = False
            self._stepped_down = True
            log.warning("this instance is no longer the leader")
        self._lost.set()

    async def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            # terminate(), not close(): close() waits on a server that may be gone.
            connection.terminate()


def _try_flock(path: Path) -> IO[bytes] | None:
    """The open, exclusively locked file, or None when another process holds the lock.
    (Opening a local file does not block long enough to matter on the event loop.)"""
    handle = path.open("ab")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def asyncpg_dsn(url: str) -> str:
    """The SQLAlchemy URL `postgresql+asyncpg://...` as a DSN asyncpg itself accepts."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def leadership_for(url: str) -> Leadership:
    """The election that fits the configured database."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return AdvisoryLock(asyncpg_dsn(url))
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return SoleInstance()
    return FileLock(Path(database).with_name(Path(database).name + ".leader"))
