"""Alembic environment: statusdesk passes an open connection (see storage.db.upgrade).

To autogenerate a new revision against a scratch database, call alembic's
`command.revision(config, autogenerate=True)` with `script_location` set to this directory
and `-x url=sqlite+aiosqlite:///scratch.db` (see storage.db for the programmatic set-up).
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from storage.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_from_url(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("pass the database with -x url=... (or use `statusdesk db upgrade`)")
    asyncio.run(_run_from_url(url))
