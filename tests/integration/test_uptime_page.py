"""Uptime history on the status page: the history read from storage, the bars on `/`, and
the rebuild at UTC midnight (a test clock decides `now`)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from bot.web.snapshot import Snapshot
from storage.unit_of_work import Store
from tests.clock import Clock


async def _eventually(check, within: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "never happened"
        await asyncio.sleep(0.02)


async def test_the_page_is_rebuilt_at_utc_midnight(store: Store) -> None:
    clock = Clock(datetime(2026, 11, 21, 23, 59, 59, 500000, tzinfo=UTC))
    snapshot = Snapshot(store, title="Status", url="https://status.test", clock=clock)
    await snapshot.start()
    try:
        renders = snapshot.renders
        await asyncio.sleep(0.8)  # still the same day by the clock: nothing to do
        assert snapshot.renders == renders
        clock.advance(seconds=1)
        await _eventually(lambda: snapshot.renders == renders + 1)
        await asyncio.sleep(0.3)
        assert snapshot.renders == renders + 1  # once per day, not once per look
    finally:
        await snapshot.stop()
