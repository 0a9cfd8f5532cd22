"""Trying a whole transaction again while the database is unavailable for a moment."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from storage.db import is_transient

log = logging.getLogger("statusdesk.desk")

DATABASE_PATIENCE = 30.0
"""Seconds a command keeps being retried while the database is unavailable (locked by
another writer, restarting) before the sender is told it could not be applied."""
RETRY_FIRST = 0.2
RETRY_MAX = 2.0

T = TypeVar("T")


async def retrying(work: Callable[[], Awaitable[T]], what: str) -> T:
    """`work` (one whole transaction), again while the database is unavailable for a
    moment: SQLite locked by another writer, PostgreSQL restarting. A failed attempt rolled
    back, so trying again cannot apply anything twice. Callers hold the desk's lock, so the
    commands behind this one wait their turn and keep their order."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + DATABASE_PATIENCE
    delay = RETRY_FIRST
    failures = 0
    while True:
        try:
            result = await work()
        except Exception as error:
            if not is_transient(error) or loop.time() + delay > give_up:
                raise
            failures += 1
            if failures == 1:
                log.warning("database unavailable applying %s (%s); retrying for up to "
                            "%.0f s", what, brief(error), DATABASE_PATIENCE)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)
            continue
        if failures:
            log.info("database back: applied %s after %d retr%s", what, failures,
                     "y" if failures == 1 else "ies")
        return result


def brief(error: BaseException) -> str:
    """The driver's own words, first line only (SQLAlchemy adds the SQL and its parameters)."""
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()
    return f"{type(original).__name__}: {text[0] if text else ''}".rstrip(": ")
