"""Engine and session set-up, SQLite pragmas, and running the Alembic migrations."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from alembic import command as alembic_command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from storage.read_only_sessions import renew_read_only_sessions
from storage.unit_of_work import Store
from storage.write_refusals import write_refusal

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

SQLITE_BUSY_TIMEOUT_MS = 10_000
"""How long a SQLite writer waits for another's lock before `database is locked`."""


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine; SQLite gets WAL, a busy timeout and enforced foreign keys."""
    if is_sqlite(url):
        engine = create_async_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 5)
    return create_async_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # WAL with synchronous=NORMAL is durable against a process crash (what we care
        # about); only an OS crash can lose the last transactions.
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def open_store(url: str, **kwargs: Any) -> Store:
    engine = create_engine(url, **kwargs)
    store = Store(engine, async_sessionmaker(engine, expire_on_commit=False))
    renew_read_only_sessions(engine, store.writes)
    return store


def _alembic_config(connection: Connection) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection, target: str = "head") -> None:
    alembic_command.upgrade(_alembic_config(connection), target)


def _revisions(connection: Connection) -> tuple[str | None, str | None]:
    current = MigrationContext.configure(connection).get_current_revision()
    head = ScriptDirectory.from_config(_alembic_config(connection)).get_current_head()
    return current, head


MIGRATION_LOCK_KEY = 0x5D5D_0002_D8A7_10E5
"""Advisory lock that serialises migrations when several instances start at once."""


async def upgrade(engine: AsyncEngine, target: str = "head") -> None:
    """Apply every pending migration, or those up to `target` (idempotent, and safe when
    instances start together: on PostgreSQL the second waits for the first, then finds
    nothing left to do)."""
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                     {"key": MIGRATION_LOCK_KEY})
        await connection.run_sync(_upgrade, target)


async def revisions(engine: AsyncEngine) -> tuple[str | None, str | None]:
    """(revision the database is at, newest revision this code knows)."""
    async with engine.connect() as connection:
        return await connection.run_sync(_revisions)


async def ping(engine: AsyncEngine) -> None:
    """Raise unless the database answers a trivial query."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


_TRANSIENT_SQLSTATE_CLASSES = ("08", "53", "57P")
"""PostgreSQL error classes that pass by themselves: connection exceptions, insufficient
resources (too many connections), operator intervention (shutdown, restart, starting up)."""


def is_transient(error: BaseException) -> bool:
    """A database failure worth trying again in a moment: SQLite locked by another writer
    past the busy timeout, PostgreSQL restarting or unreachable, a connection it dropped.

    Anything else (a constraint violated, bad SQL) would fail the same way again, and so
    would a write the database refuses for want of disk space or for being read-only (see
    storage/write_refusals.py): those do not pass in the seconds a retry waits.
    """
    if write_refusal(error) is not None:
        return False
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, OSError | ConnectionError | TimeoutError):
            return True
        message = str(current).lower()
        if "database is locked" in message or "database table is locked" in message:
            return True
        sqlstate = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_TRANSIENT_SQLSTATE_CLASSES):
            return True
        # asyncpg is the `postgres` extra: if nothing imported it, no error can be its own.
        asyncpg = sys.modules.get("asyncpg")
        if asyncpg is not None and isinstance(current, asyncpg.ConnectionDoesNotExistError):
            return True
        current = current.__cause__ or current.__context__ or getattr(current, "orig", None)
    return False
