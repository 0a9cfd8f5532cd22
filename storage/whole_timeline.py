"""An incident's whole timeline in one pass, read beneath SQLAlchemy's result layer: for an
export, which reads every row of a long incident once and formats it in a worker thread.

Per batch of rows, SQLAlchemy's result layer (a statement, its result, a `Row` per row, and
on SQLite four hand-offs to aiosqlite's thread) cost more than reading the rows themselves:
bench/export.py measured the export at 2-3x a plain read of the same rows. So:

- SQLite (a database file): ONE `SELECT` on a connection of the stdlib `sqlite3` module of
  its own, made and read in the thread that formats the rows (`fetchmany`): no hand-off per
  batch, and the event loop does nothing for the rows at all. Each statement of the old
  way was a snapshot of its own (pysqlite opens no transaction for reads), this one
  statement is one snapshot of the whole timeline (WAL: writers go on meanwhile).
  A session inside a transaction of its own (the bundle's `BEGIN`: its postmortem and its
  log must be one snapshot) or an in-memory database cannot be read from another
  connection: those keep reading through the session.
- PostgreSQL: the session's own asyncpg connection (so the session's transaction and
  snapshot, e.g. the bundle's REPEATABLE READ), a larger batch per statement, and asyncpg's
  records as they are: no `Row` per row; `at` as the server prints it in SQLite's form.
  asyncpg decodes rows on the event loop as they arrive off the socket, a read buffer at a
  time, so a larger batch does not hold the loop longer at once.

Either way a batch is a list of rows, each a sequence of the fields in `STORED_FIELDS` order
as the driver returned them (`at` SQLite's stored text, or a datetime through the session on
PostgreSQL; `public` 0/1 or a bool): `storage.timeline.StoredEntry` reads one as a `TimelineRecord`.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator, Sequence
from typing import Any

from sqlalchemy import (
    ColumnClause,
    ColumnElement,
    SQLColumnExpression,
    bindparam,
    column,
    select,
    true,
)
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import TimelineEntry

STORED_FIELDS = ("id", "incident_id", "at", "kind", "actor", "identity", "transport",
                 "network", "channel", "old_value", "new_value", "text", "public")

StoredRow = Sequence[Any]
"""A timeline row as the driver returned it, fields in `STORED_FIELDS` order."""

StoredBatches = Iterator[list[StoredRow]] | AsyncIterator[list[StoredRow]]
"""Batches of an incident's rows in order: to be iterated in the thread that formats them
(SQLite), or read on the event loop (`bot.incidents.handoff.Handoff.batches_from` takes
either)."""

SQLITE_FETCH = 1000
"""Rows per `fetchmany` on SQLite: a batch formatted, and handed on, at a time."""

POSTGRES_BATCH = 2000
"""Rows per statement on PostgreSQL: each is a round trip; asyncpg decodes the rows a read
buffer at a time, so the loop is held no longer by a larger batch (bench/export.py: loop-lag
p99 within its goal)."""

SESSION_BATCH = 1000
"""Rows per statement when the rows are read through the session (the fallback)."""

_COLUMNS = ", ".join(STORED_FIELDS)
_SELECT = f"SELECT {_COLUMNS} FROM incident_events WHERE incident_id = "


def _sqlite_select(kinds: int) -> str:
    of_kinds = f" AND kind IN ({', '.join('?' * kinds)})" if kinds else ""
    return f"{_SELECT}?{of_kinds} ORDER BY id"


_POSTGRES_AT = "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"
"""`at` as SQLite stores it (UTC text, six digits of fraction): the export's writers copy its
digits, where a datetime was decoded on the loop, then printed again per row (a fourth of
the time of formatting a JSON entry)."""
_POSTGRES_COLUMNS = _COLUMNS.replace(", at,", f", {_POSTGRES_AT},", 1)
_POSTGRES_SELECT = (f"SELECT {_POSTGRES_COLUMNS} FROM incident_events WHERE incident_id = $1 "
                    "AND id > $2 ORDER BY id LIMIT $3")
_POSTGRES_SELECT_KINDS = _POSTGRES_SELECT.replace(" ORDER BY", " AND kind = ANY($4) ORDER BY")

SQLITE_TIMEOUT_SECONDS = 10.0
"""What the export's own connection waits for a lock (reading a WAL database takes none,
except while a crashed writer's WAL is recovered)."""


async def whole_timeline(session: AsyncSession, incident_id: int, *,
                         kinds: Sequence[str] = ()) -> StoredBatches:
    """Every entry of the incident (of `kinds`, if given), in order, in batches (module
    docstring: which way)."""
    connection = await session.connection()
    dialect = connection.dialect.name
    driver: Any = (await connection.get_raw_connection()).driver_connection
    if dialect == "postgresql":
        return _postgres_batches(driver, incident_id, kinds)
    if dialect == "sqlite" and not driver.in_transaction:
        filename = _sqlite_file(connection.engine.url)
        if filename is not None:
            return _sqlite_batches(filename, incident_id, kinds)
    return session_batches(session, incident_id, kinds=kinds)


def _sqlite_file(url: URL) -> str | None:
    """The database file `url` names, as pysqlite opens it; None for an in-memory database
    or a URI (another connection could not reach the one the session reads)."""
    if url.query or url.database in (None, "", ":memory:") \
            or str(url.database).startswith("file:"):
        return None
    return os.path.abspath(str(url.database))


def _sqlite_batches(filename: str, incident_id: int, kinds: Sequence[str]
                    ) -> Generator[list[StoredRow]]:
    # Runs where it is iterated, the formatting thread: the connection is made there on the
    # first batch (none at all if no batch is asked for) and closed when the generator is,
    # perhaps from the event loop's thread once the worker is done (hence
    # check_same_thread off: one thread at a time uses it, never two at once).
    reader = sqlite3.connect(filename, timeout=SQLITE_TIMEOUT_SECONDS, check_same_thread=False)
    try:
        reader.execute("PRAGMA query_only = ON")
        cursor = reader.execute(_sqlite_select(len(kinds)), (incident_id, *kinds))
        while batch := cursor.fetchmany(SQLITE_FETCH):
            yield batch
    finally:
        reader.close()


async def _postgres_batches(driver: Any, incident_id: int, kinds: Sequence[str]
                            ) -> AsyncGenerator[list[StoredRow]]:
    after = 0
    statement, more = (_POSTGRES_SELECT_KINDS, [list(kinds)]) if kinds else (_POSTGRES_SELECT, [])
    while True:
        # `fetch` goes through asyncpg's own statement cache (or unnamed statements where
        # it is turned off, as behind pgbouncer).
        batch = await driver.fetch(statement, incident_id, after, POSTGRES_BATCH, *more)
        if batch:
            yield batch
        if len(batch) < POSTGRES_BATCH:
            return
        after = batch[-1][0]


def is_public(flag: SQLColumnExpression[bool]) -> ColumnElement[bool]:
    """`public = true`, which ix_incident_events_public (incident_id, public, id) serves as an
    equality: `public IS true`, SQLAlchemy's `is_(True)`, is no index condition on PostgreSQL,
    and public reads then filtered every captured chat line of the incident."""
    return flag == true()


async def session_batches(session: AsyncSession, incident_id: int, *,
                          kinds: Sequence[str] = (), public_only: bool = False,
                          size: int = SESSION_BATCH) -> AsyncGenerator[list[StoredRow]]:
    """The incident's entries (public ones, of `kinds`, if asked) in order, through the
    session, `size` rows per statement, as the driver returned them."""
    table = TimelineEntry.__table__
    columns: list[ColumnClause[Any]] = [column(name) for name in STORED_FIELDS]
    # Built once per read, the next batch's start a parameter: building a statement and
    # its cache key for each of a long export's batches was work for nothing.
    query = (
        select(*columns)
        .select_from(table)
        .where(table.c.incident_id == incident_id, table.c.id > bindparam("after"))
        .order_by(table.c.id)
        .limit(size)
    )
    if public_only:
        query = query.where(is_public(table.c.public))
    if kinds:
        query = query.where(table.c.kind.in_(kinds))
    after = 0
    while True:
        batch: list[StoredRow] = list((await session.execute(query, {"after": after})).all())
        if batch:
            yield batch
        if len(batch) < size:
            return
        after = batch[-1][0]


async def close_batches(batches: StoredBatches) -> None:
    """Ends a read left unfinished (a reader that went away): its statement, its connection.
    Call once the thread that iterated a SQLite read is done with it."""
    if isinstance(batches, AsyncGenerator):
        await batches.aclose()
    elif isinstance(batches, Generator):
        batches.close()
