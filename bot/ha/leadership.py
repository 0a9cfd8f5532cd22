"""Which instance speaks in chat: one leader per database, the others stand by.

With PostgreSQL the leader is whoever holds the leader lease (bot/ha/lease.py): a row with a
term and an expiry by the database's clock, which the leader renews every second. A crashed,
stopped, stuck or cut-off leader stops renewing and is replaced; everything it would still
do is fenced by its term, so a leader that comes back after losing the lease stays quiet.

With SQLite (one host) an exclusive `flock` on a file beside the database plays the same
part, so a second process started by mistake waits instead of doubling every announcement.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import socket
import uuid
from pathlib import Path
from typing import IO, Any, Protocol

from sqlalchemy.engine import make_url

log = logging.getLogger("statusdesk.leadership")

POLL_SECONDS = 0.5
"""How often a standby tries the file lock."""


def instance_id() -> str:
    """A name for this process, unique across hosts and restarts (`host:pid:random`)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Leadership(Protocol):
    """The election as the app sees it."""

    @property
    def is_leader(self) -> bool: ...

    @property
    def term(self) -> int | None:
        """The term this instance leads in, for fencing its writes; None when it does not
        lead or its store needs no fencing (SQLite: one host, one file lock)."""
        ...

    def holds(self) -> bool:
        """May this instance act as leader right now (checked before every chat send)?"""
        ...

    def detail(self) -> dict[str, Any]:
        """What /healthz shows of the election (term, lease expiry); empty when none."""
        ...

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

    term = None

    def holds(self) -> bool:
        return self._leading

    def detail(self) -> dict[str, Any]:
        return {}

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

    term = None

    def holds(self) -> bool:
        return self._file is not None

    def detail(self) -> dict[str, Any]:
        return {}

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


def session_settings(url: str, instance: str) -> dict[str, Any]:
    """Engine options naming this instance's PostgreSQL sessions after it
    (`application_name`): whoever takes the lease from it ends them (bot/ha/lease.py)."""
    if make_url(url).get_backend_name() != "postgresql":
        return {}
    from bot.ha.lease import application_name  # asyncpg: the `postgres` extra

    return {"connect_args": {"server_settings": {"application_name": application_name(instance)}}}


def leadership_for(url: str, *, holder: str | None = None,
                   lease_seconds: float | None = None) -> Leadership:
    """The election that fits the configured database (`lease_seconds`: the PostgreSQL
    lease's length, default `bot.ha.lease.DEFAULT_LEASE_SECONDS`)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        # Imported here: bot.ha.lease needs asyncpg, the `postgres` extra.
        from bot.ha.lease import DEFAULT_LEASE_SECONDS, LeaderLease

        return LeaderLease(asyncpg_dsn(url), holder or instance_id(),
                           lease=DEFAULT_LEASE_SECONDS if lease_seconds is None
                           else lease_seconds)
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return SoleInstance()
    return FileLock(Path(database).with_name(Path(database).name + ".leader"))
