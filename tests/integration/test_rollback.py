"""Rolling the schema back, on SQLite and PostgreSQL: a database with rows in every table is
downgraded one migration at a time down to base; after each step the tables and columns the
step keeps hold exactly what they held, what disappeared is what the step reports it drops,
and upgrading that one step again (with the data in place) works. Then back up to head.

The revisions come from the Alembic script directory, so a new migration is covered as soon
as it exists.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Date,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    inspect,
    select,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import open_store, revisions, upgrade
from storage.models import Base
from storage.rollback import BASE, all_revisions, downgrade, plan, resolve, steps_between

ROWS = 2
Rows = dict[str, list[dict[str, Any]]]
"""Table -> its rows (column -> value), in primary-key order."""


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    store = open_store(db_url)
    await upgrade(store.engine)
    try:
        yield store.engine
    finally:
        await store.close()


def _value(table: Table, column: Any, row: int) -> Any:
    kind = column.type
    if isinstance(kind, Boolean):
        return row % 2 == 1
    if isinstance(kind, Integer):
        return row
    if isinstance(kind, (Float, Numeric)):
        return decimal.Decimal(f"{row}.5") if getattr(kind, "asdecimal", False) else row + 0.5
    if isinstance(kind, DateTime):
        moment = dt.datetime(2026, 3, row, 12, 30, tzinfo=dt.UTC)
        return moment if kind.timezone else moment.replace(tzinfo=None)
    if isinstance(kind, Date):
        return dt.date(2026, 3, row)
    if isinstance(kind, JSON):
        return {"row": row, "table": table.name}
    if isinstance(kind, LargeBinary):
        return f"{table.name}-{row}".encode()
    if isinstance(kind, (String, Text)):
        text = f"{column.name}-{row}"
        length = getattr(kind, "length", None)
        return text[-length:] if length else text
    raise AssertionError(f"no test value for {table.name}.{column.name} ({kind!r})")


def _fill(connection: Connection) -> None:
    """Rows in every table, parents first; foreign keys point at the parent's row of the same
    number, so every reference is real. A table a migration seeded (the leader lease's one
    row) keeps the row it has."""
    metadata = MetaData()
    metadata.reflect(connection)
    for table in metadata.sorted_tables:
        if table.name == "alembic_version":
            continue
        if connection.execute(select(table)).first() is not None:
            continue
        for row in range(1, ROWS + 1):
            values = {}
            for column in table.columns:
                foreign = next(iter(column.foreign_keys), None)
                if foreign is not None:
                    parent = foreign.column
                    values[column.name] = _value(parent.table, parent, row)
                else:
                    values[column.name] = _value(table, column, row)
            connection.execute(table.insert().values(values))


def _read(connection: Connection) -> Rows:
    metadata = MetaData()
    metadata.reflect(connection)
    rows: Rows = {}
    for table in metadata.sorted_tables:
        if table.name == "alembic_version":
            continue
        order = list(table.primary_key.columns) or list(table.columns)
        result = connection.execute(select(table).order_by(*order))
        rows[table.name] = [dict(r._mapping) for r in result]
    return rows


def _columns(connection: Connection, rows_by_table: dict[str, set[str]]) -> None:
    inspector = inspect(connection)
    for name in inspector.get_table_names():
        rows_by_table[name] = {c["name"] for c in inspector.get_columns(name)}


async def _schema(engine: AsyncEngine) -> dict[str, set[str]]:
    schema: dict[str, set[str]] = {}
    async with engine.connect() as connection:
        await connection.run_sync(_columns, schema)
    schema.pop("alembic_version", None)
    return schema


async def _rows(engine: AsyncEngine) -> Rows:
    async with engine.connect() as connection:
        return await connection.run_sync(_read)


def _kept(before: Rows, after_schema: dict[str, set[str]]) -> Rows:
    """What of `before` the schema `after_schema` still has room for."""
    return {table: [{k: v for k, v in row.items() if k in after_schema[table]} for row in rows]
            for table, rows in before.items() if table in after_schema}


def _normal(rows: Rows) -> Rows:
    """SQLite hands naive datetimes back for every DateTime column; compare the instants."""
    def one(value: Any) -> Any:
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            return value.astimezone(dt.UTC).replace(tzinfo=None)
        return value
    return {t: [{k: one(v) for k, v in row.items()} for row in rows] for t, rows in rows.items()}


async def test_every_table_is_filled_by_the_test(engine: AsyncEngine) -> None:
    """The fill reaches every table the models declare (so `data intact` means every table)."""
    async with engine.begin() as connection:
        await connection.run_sync(_fill)
    rows = await _rows(engine)
    assert set(Base.metadata.tables) <= set(rows)
    assert {t for t, r in rows.items() if not r} == set()


async def test_downgrade_step_by_step_to_base_and_back_keeps_the_data(
        engine: AsyncEngine) -> None:
    history = all_revisions()
    current, head = await revisions(engine)
    assert current == head == history[-1]
    async with engine.begin() as connection:
        await connection.run_sync(_fill)
    schema, rows = await _schema(engine), await _rows(engine)
    head_schema = schema

    for index in range(len(history) - 1, -1, -1):
        revision = history[index]
        below = history[index - 1] if index else BASE
        at, target, steps = await plan(engine, below)
        assert (at, target, [s.revision for s in steps]) == (revision, below, [revision])
        step = steps[0]

        await downgrade(engine, below)
        assert (await revisions(engine))[0] == (None if below == BASE else below)
        after_schema, after_rows = await _schema(engine), await _rows(engine)
        # What disappeared is what the step said it drops, no more, no less.
        gone_tables = set(schema) - set(after_schema)
        gone_columns = {f"{t}.{c}" for t in after_schema for c in schema.get(t, set())
                        - after_schema[t]}
        assert gone_tables == set(step.dropped_tables), revision
        assert gone_columns == set(step.dropped_columns), revision
        # Every row of every table the step keeps is still there, unchanged.
        assert _normal(after_rows) == _normal(_kept(rows, after_schema)), revision

        # The same step upgraded again with the data in place, and undone once more.
        await upgrade(engine, revision)
        assert set(await _schema(engine)) == set(schema), revision
        assert _normal(_kept(await _rows(engine), after_schema)) == _normal(after_rows)
        await downgrade(engine, below)
        assert _normal(await _rows(engine)) == _normal(after_rows), revision
        schema, rows = after_schema, after_rows

    assert schema == {}
    await upgrade(engine)
    assert await _schema(engine) == head_schema
    assert (await revisions(engine))[0] == history[-1]


def test_targets_resolve_by_unique_prefix_and_refuse_unknown_or_newer() -> None:
    history = all_revisions()
    assert resolve("base") == BASE
    assert resolve(history[-1][:4]) == history[-1]
    with pytest.raises(Exception, match="no migration"):
        resolve("9999_nothing")
    with pytest.raises(Exception, match="newer"):
        steps_between(history[0], history[-1])
    assert steps_between(history[-1], history[-1]) == []
    every = steps_between(history[-1], BASE)
    assert [s.revision for s in every] == list(reversed(history))
    # The first migration drops every table of the initial schema, the report says so.
    assert "incidents" in every[-1].dropped_tables and every[-1].drops_data
