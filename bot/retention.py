"""Retention: the leader deletes delivered outbox effects and audit records older than
`retention.outbox_delivered` / `retention.audit`, once an hour, in small batches.

Each batch is its own short transaction, with a pause between batches, so a first prune of
years of rows never holds the database (SQLite has one writer) or the event loop for long:
commands typed meanwhile get in between. Both deletes find their rows by index
(storage/outbox.py, storage/audit.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from bot.config import RetentionConfig
from bot.core.timer_passes import run_timer_passes
from storage.models import utcnow
from storage.unit_of_work import Store, Transaction

log = logging.getLogger("statusdesk.retention")

BATCH = 1000
"""Rows deleted per transaction."""

BATCH_PAUSE = 0.05
"""Seconds between batches: room for other writers."""

INTERVAL = 3600.0
"""Seconds between passes."""


class Pruner:
    def __init__(self, store: Store, config: RetentionConfig, *,
                 clock: Callable[[], datetime] = utcnow, batch: int = BATCH) -> None:
        self._store = store
        self._config = config
        self._clock = clock
        self._batch = batch
        self._wake = asyncio.Event()
        self.pruned = {"outbox_delivered": 0, "audit": 0}
        """Rows deleted since start, per table (for tests and logs)."""

    async def run(self) -> None:
        """Prune, wait an hour, forever (until cancelled)."""
        await run_timer_passes(self.check, self._seconds_until_next, self._wake, log,
                               "retention pass")

    async def check(self) -> dict[str, int]:
        """One pass: delete every row past its retention, batch by batch. How many, per
        table."""
        now = self._clock()
        done = {"outbox_delivered": 0, "audit": 0}
        if self._config.outbox_delivered is not None:
            before = now - self._config.outbox_delivered
            done["outbox_delivered"] = await self._in_batches(
                lambda tx: tx.outbox.prune_delivered(before, self._batch))
        if self._config.audit is not None:
            before = now - self._config.audit
            done["audit"] = await self._in_batches(lambda tx: tx.audit.prune(before,
                                                                             self._batch))
        for table, count in done.items():
            self.pruned[table] += count
        if any(done.values()):
            log.info("retention: deleted %d delivered outbox effects and %d audit records",
                     done["outbox_delivered"], done["audit"])
        return done

    async def _in_batches(self, delete: Callable[[Transaction], Awaitable[int]]) -> int:
        total = 0
        while True:
            async with self._store.transaction() as tx:
                count = await delete(tx)
            total += count
            if count < self._batch:
                return total
            await asyncio.sleep(BATCH_PAUSE)

    async def _seconds_until_next(self) -> float:
        return INTERVAL
