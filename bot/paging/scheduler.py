"""The escalation timer: unacknowledged pages go to the next manager after `ack_timeout`.

The timer is a column (`pages.escalate_at`), not a sleeping task, so it survives restarts:
after a crash the first pass escalates whatever fell due while the bot was down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from bot.core.timer_passes import run_timer_passes
from bot.paging.pager import Pager
from storage.models import utcnow
from storage.unit_of_work import Store

log = logging.getLogger("statusdesk.paging")

MAX_SLEEP = 30.0
"""Longest wait between passes, so a clock jump or a page written by another instance is
noticed soon."""


class EscalationScheduler:
    def __init__(
        self,
        store: Store,
        pager: Pager,
        *,
        clock: Callable[[], datetime] = utcnow,
        on_queued: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._pager = pager
        self._clock = clock
        self.on_queued = on_queued
        """Wakes the outbox after escalations were queued."""
        self._wake = asyncio.Event()
        self.escalations = 0

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Escalate what is due, sleep until the next timer (or a wake-up); until cancelled."""
        await run_timer_passes(self.check, self._seconds_until_next, self._wake, log,
                               "escalation pass")

    async def check(self) -> int:
        """One pass: escalate every page whose timer ran out. How many were escalated."""
        now = self._clock()
        count = 0
        async with self._store.transaction() as tx:
            for page_id in [page.id for page in await tx.pages.due(now)]:
                if await self._pager.escalate(tx, page_id, now) is not None:
                    count += 1
        if count:
            self.escalations += count
            self.on_queued()
        return count

    async def _seconds_until_next(self) -> float:
        async with self._store.reading() as tx:
            next_at = await tx.pages.next_escalation_at()
        if next_at is None:
            return MAX_SLEEP
        return max(0.05, min(MAX_SLEEP, (next_at - self._clock()).total_seconds()))
