"""The status page under a stream of changes: rebuilds coalesce (at most one every
REBUILD_INTERVAL) instead of one per change. (That each change still reaches SSE clients
as its own event is tests/integration/test_status_page.py's.)"""

from __future__ import annotations

import asyncio
import time

from bot.core.events import StatusPosted
from bot.web.snapshot import REBUILD_INTERVAL, Snapshot
from storage.models import utcnow
from storage.unit_of_work import Store


async def _until_idle(snapshot: Snapshot, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not snapshot.idle:
        assert time.monotonic() < deadline, "the snapshot never caught up"
        await asyncio.sleep(0.01)


async def test_a_stream_of_changes_coalesces_and_each_is_announced(store: Store) -> None:
    snapshot = Snapshot(store, title="Status", url="https://status.test")
    await snapshot.start()
    try:
        before = snapshot.renders
        started = time.monotonic()
        for n in range(50):
            snapshot.on_event(StatusPosted(at=utcnow(), incident_id=None, post="log", text=f"{n}"))
            await asyncio.sleep(0.005)
        await _until_idle(snapshot)
        elapsed = time.monotonic() - started
        renders = snapshot.renders - before
        # One rebuild at once, then at most one per interval (plus the last one).
        assert renders <= elapsed / REBUILD_INTERVAL + 2, (renders, elapsed)
        assert renders < 50
    finally:
        await snapshot.stop()
